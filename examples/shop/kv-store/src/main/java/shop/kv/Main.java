package shop.kv;

import shop.Service;

import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;

/**
 * kv-store: the stateful dependency of the shop (stands in for a database).
 * One file per key under $DATA_DIR (default /data), written atomically.
 *
 * <pre>
 * GET    /health     200 ok
 * GET    /version    the build version
 * PUT    /kv/{key}   body = value; 204
 * GET    /kv/{key}   the value, 404 if unknown
 * DELETE /kv/{key}   204, 404 if unknown
 * </pre>
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) throws Exception {
        Path dir = Paths.get(Service.env("DATA_DIR", "/data"));
        Files.createDirectories(dir);
        Service svc = new Service("kv-store", Main.class);
        svc.route("/kv/", ex -> {
            String raw = ex.getRequestURI().getRawPath().substring("/kv/".length());
            String key = URLDecoder.decode(raw, StandardCharsets.UTF_8);
            if (key.isEmpty() || key.length() > 200) {
                Service.send(ex, 400, "text/plain", "bad key");
                return;
            }
            // file name: URL-encoded key, so "/" or ".." can never escape the data dir
            String fname = "k_" + URLEncoder.encode(key, StandardCharsets.UTF_8).replace("*", "%2A");
            if (fname.length() > 240) {
                Service.send(ex, 400, "text/plain", "key too long");
                return;
            }
            Path file = dir.resolve(fname);
            switch (ex.getRequestMethod()) {
                case "GET":
                    try {
                        byte[] v = Files.readAllBytes(file);
                        ex.getResponseHeaders().set("Content-Type", "application/octet-stream");
                        ex.sendResponseHeaders(200, v.length == 0 ? -1 : v.length);
                        if (v.length > 0) {
                            ex.getResponseBody().write(v);
                        }
                    } catch (NoSuchFileException e) {
                        Service.send(ex, 404, "text/plain", "no such key");
                    }
                    break;
                case "PUT": {
                    byte[] v = Service.readBody(ex);
                    Path tmp = dir.resolve(".tmp-" + Thread.currentThread().getId() + "-" + fname);
                    Files.write(tmp, v);
                    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                    ex.sendResponseHeaders(204, -1);
                    break;
                }
                case "DELETE":
                    if (Files.deleteIfExists(file)) {
                        ex.sendResponseHeaders(204, -1);
                    } else {
                        Service.send(ex, 404, "text/plain", "no such key");
                    }
                    break;
                default:
                    Service.send(ex, 405, "text/plain", "method not allowed");
            }
        });
        svc.start();
    }
}
