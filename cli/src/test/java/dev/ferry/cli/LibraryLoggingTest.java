package dev.ferry.cli;

import dev.ferry.nodeapi.ConsoleLogging;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The ferry binary binds slf4j to java.util.logging: a library's error (fabric8's informers and netty log
 * through slf4j) reaches ferry's log handlers instead of vanishing in slf4j-nop, filtered by --log-level.
 */
class LibraryLoggingTest
{
    @Test
    void shouldPassLibraryLogsThroughJavaUtilLoggingAtTheConfiguredLevel()
    {
        final Logger jul = Logger.getLogger("io.fabric8.kubernetes.client.informers.test");
        final List<LogRecord> seen = new ArrayList<>();
        final Handler capture = new Handler()
        {
            @Override
            public void publish(final LogRecord r)
            {
                if (jul.isLoggable(r.getLevel()))
                {
                    seen.add(r);
                }
            }

            @Override
            public void flush()
            {
            }

            @Override
            public void close()
            {
            }
        };
        jul.addHandler(capture);
        final Level saved = Logger.getLogger("").getLevel();
        try
        {
            Logger.getLogger("").setLevel(ConsoleLogging.level("warn"));
            final org.slf4j.Logger library = org.slf4j.LoggerFactory.getLogger(jul.getName());
            library.error("watch failed: 410 Gone");
            library.info("informer started");

            assertThat(library.getClass().getName()).as("slf4j's binding").isEqualTo("org.slf4j.impl.JDK14LoggerAdapter");
            assertThat(seen).extracting(LogRecord::getMessage).as("error passes warn, info does not")
                .containsExactly("watch failed: 410 Gone");
            assertThat(seen.getFirst().getLevel()).isEqualTo(Level.SEVERE);
        }
        finally
        {
            Logger.getLogger("").setLevel(saved);
            jul.removeHandler(capture);
        }
    }
}
