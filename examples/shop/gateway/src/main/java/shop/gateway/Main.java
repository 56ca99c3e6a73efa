package shop.gateway;

import com.sun.net.httpserver.HttpExchange;
import shop.Service;

import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URL;

/**
 * gateway: the public entry point; proxies to the backends by their
 * compose/Kubernetes service names.
 *
 * <pre>
 * GET /health        200 ok (does NOT depend on the backends, so it can start first)
 * GET /version       the build tag (Implementation-Version of the jar)
 * GET /api/users     -> $USER_SERVICE_URL/users     (default http://user-service:8080)
 * GET /api/chat      -> $CHAT_SERVICE_URL/messages  (default http://chat-service:8080)
 * GET /api/versions  JSON with the versions of gateway, user-service and chat-service
 * </pre>
 *
 * A backend that is down gives 502 on the proxied route only.
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) throws Exception {
        // The backends' addresses change on every redeploy (new container, new IP) and
        // they may come up after the gateway: don't let the JVM's DNS cache (30 s
        // positive, 10 s negative by default) pin a dead address or a miss.
        java.security.Security.setProperty("networkaddress.cache.ttl", "1");
        java.security.Security.setProperty("networkaddress.cache.negative.ttl", "0");
        String users = strip(Service.env("USER_SERVICE_URL", "http://user-service:8080"));
        String chat = strip(Service.env("CHAT_SERVICE_URL", "http://chat-service:8080"));
        Service svc = new Service("gateway", Main.class);
        svc.route("/api/users", ex -> proxy(ex, "/api/users", users + "/users"));
        svc.route("/api/chat", ex -> proxy(ex, "/api/chat", chat + "/messages"));
        svc.route("/api/versions", ex -> {
            if (!ex.getRequestURI().getPath().equals("/api/versions")) {
                Service.send(ex, 404, "text/plain", "not found");
                return;
            }
            String body = "{\"gateway\":" + Service.json(svc.version)
                    + ",\"user-service\":" + versionOf(users)
                    + ",\"chat-service\":" + versionOf(chat) + "}";
            Service.send(ex, 200, "application/json", body);
        });
        svc.start();
    }

    private static void proxy(HttpExchange ex, String prefix, String target) throws IOException {
        if (!ex.getRequestURI().getPath().equals(prefix)) {
            Service.send(ex, 404, "text/plain", "not found");
            return;
        }
        if (!"GET".equals(ex.getRequestMethod())) {
            Service.send(ex, 405, "text/plain", "method not allowed");
            return;
        }
        try {
            HttpURLConnection c = open(target);
            int code = c.getResponseCode();
            InputStream in = code >= 400 ? c.getErrorStream() : c.getInputStream();
            byte[] body = in == null ? new byte[0] : in.readAllBytes();
            String type = c.getContentType();
            c.disconnect();
            ex.getResponseHeaders().set("Content-Type", type == null ? "application/octet-stream" : type);
            ex.sendResponseHeaders(code, body.length == 0 ? -1 : body.length);
            if (body.length > 0) {
                ex.getResponseBody().write(body);
            }
        } catch (IOException e) {
            Service.send(ex, 502, "text/plain", "upstream " + target + " unavailable: " + e);
        }
    }

    /** JSON string with the backend's /version, or null when it cannot be reached. */
    private static String versionOf(String base) {
        try {
            HttpURLConnection c = open(base + "/version");
            if (c.getResponseCode() != 200) {
                return "null";
            }
            try (InputStream in = c.getInputStream()) {
                return Service.json(new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim());
            }
        } catch (IOException e) {
            return "null";
        }
    }

    private static HttpURLConnection open(String url) throws IOException {
        HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection();
        c.setConnectTimeout(2000);
        c.setReadTimeout(5000);
        c.setUseCaches(false);
        return c;
    }

    private static String strip(String base) {
        return base.endsWith("/") ? base.substring(0, base.length() - 1) : base;
    }
}
