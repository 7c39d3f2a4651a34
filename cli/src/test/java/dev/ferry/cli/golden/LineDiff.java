package dev.ferry.cli.golden;

import java.util.ArrayList;
import java.util.List;

/**
 * A unified diff of two short texts (a longest-common-subsequence table: golden texts are at most a few
 * hundred lines), with three lines of context around each change.
 */
final class LineDiff
{
    private static final int CONTEXT = 3;
    private static final int MAX_LINES = 4000;

    private LineDiff()
    {
    }

    /**
     * @return "--- expected / +++ actual" then ' ', '-' and '+' lines; empty when the texts are equal.
     */
    static String unified(final String expectedName, final List<String> expected, final String actualName,
        final List<String> actual)
    {
        if (expected.equals(actual))
        {
            return "";
        }
        final List<String> a = expected.subList(0, Math.min(expected.size(), MAX_LINES));
        final List<String> b = actual.subList(0, Math.min(actual.size(), MAX_LINES));
        final int[][] lcs = new int[a.size() + 1][b.size() + 1];
        for (int i = a.size() - 1; i >= 0; i--)
        {
            for (int j = b.size() - 1; j >= 0; j--)
            {
                lcs[i][j] = a.get(i).equals(b.get(j)) ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
            }
        }
        final List<String> lines = new ArrayList<>();
        int i = 0;
        int j = 0;
        while (i < a.size() || j < b.size())
        {
            if (i < a.size() && j < b.size() && a.get(i).equals(b.get(j)))
            {
                lines.add(" " + a.get(i++));
                j++;
            }
            else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1]))
            {
                lines.add("-" + a.get(i++));
            }
            else
            {
                lines.add("+" + b.get(j++));
            }
        }
        return "--- " + expectedName + "\n+++ " + actualName + "\n" + withContext(lines);
    }

    private static String withContext(final List<String> lines)
    {
        final boolean[] keep = new boolean[lines.size()];
        for (int k = 0; k < lines.size(); k++)
        {
            if (lines.get(k).charAt(0) != ' ')
            {
                for (int c = Math.max(0, k - CONTEXT); c <= Math.min(lines.size() - 1, k + CONTEXT); c++)
                {
                    keep[c] = true;
                }
            }
        }
        final StringBuilder sb = new StringBuilder();
        boolean skipped = false;
        for (int k = 0; k < lines.size(); k++)
        {
            if (keep[k])
            {
                sb.append(lines.get(k)).append('\n');
                skipped = false;
            }
            else if (!skipped)
            {
                sb.append("@@ ...\n");
                skipped = true;
            }
        }
        return sb.toString();
    }
}
