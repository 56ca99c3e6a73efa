package shop.chat;

import shop.Service;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * chat-service: an append-only message log.
 *
 * <pre>
 * GET  /health      200 ok
 * GET  /version     the build tag (Implementation-Version of the jar)
 * GET  /messages    JSON list of messages
 * POST /messages    body = text; appends, 201
 * </pre>
 *
 * Messages live in memory, or in $DATA_DIR/messages.log (one per line) when
 * DATA_DIR is set, so they survive restarts if that directory is a volume.
 */
public final class Main {
    private static final List<String> MEMORY = new ArrayList<>();
    private static Path log;

    private Main() {}

    public static void main(String[] args) throws Exception {
        String dataDir = System.getenv("DATA_DIR");
        if (dataDir != null && !dataDir.isEmpty()) {
            Path dir = Paths.get(dataDir);
            Files.createDirectories(dir);
            log = dir.resolve("messages.log");
        } else {
            MEMORY.add("welcome to the shop");
        }
        Service svc = new Service("chat-service", Main.class);
        svc.route("/messages", ex -> {
            if (!ex.getRequestURI().getPath().equals("/messages")) {
                Service.send(ex, 404, "text/plain", "not found");
                return;
            }
            String method = ex.getRequestMethod();
            if ("GET".equals(method)) {
                StringBuilder sb = new StringBuilder("{\"service\":\"chat-service\",\"version\":")
                        .append(Service.json(svc.version)).append(",\"messages\":[");
                List<String> all = messages();
                for (int i = 0; i < all.size(); i++) {
                    if (i > 0) {
                        sb.append(',');
                    }
                    sb.append(Service.json(all.get(i)));
                }
                Service.send(ex, 200, "application/json", sb.append("]}").toString());
            } else if ("POST".equals(method)) {
                String text = new String(Service.readBody(ex), StandardCharsets.UTF_8)
                        .replace('\n', ' ').replace('\r', ' ').trim();
                if (text.isEmpty()) {
                    Service.send(ex, 400, "text/plain", "empty message");
                    return;
                }
                append(text);
                Service.send(ex, 201, "text/plain", "stored");
            } else {
                Service.send(ex, 405, "text/plain", "method not allowed");
            }
        });
        svc.start();
    }

    private static synchronized List<String> messages() throws IOException {
        if (log == null) {
            return new ArrayList<>(MEMORY);
        }
        if (!Files.exists(log)) {
            return new ArrayList<>();
        }
        return Files.readAllLines(log, StandardCharsets.UTF_8);
    }

    private static synchronized void append(String text) throws IOException {
        if (log == null) {
            MEMORY.add(text);
            return;
        }
        Files.write(log, (text + "\n").getBytes(StandardCharsets.UTF_8),
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }
}
