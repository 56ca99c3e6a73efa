package shop.user;

import shop.Service;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * user-service: a tiny in-memory user directory.
 *
 * <pre>
 * GET  /health      200 ok
 * GET  /version     the build tag (Implementation-Version of the jar)
 * GET  /users       JSON list of users
 * GET  /users/{id}  one user, 404 if unknown
 * POST /users       body = name; creates a user, 201 + JSON
 * </pre>
 */
public final class Main {
    private static final Map<Integer, String> USERS = new ConcurrentSkipListMap<>();
    private static final AtomicInteger NEXT_ID = new AtomicInteger(1);

    private Main() {}

    public static void main(String[] args) throws Exception {
        for (String n : new String[] {"alice", "bob", "carol"}) {
            USERS.put(NEXT_ID.getAndIncrement(), n);
        }
        Service svc = new Service("user-service", Main.class);
        svc.route("/users", ex -> {
            String path = ex.getRequestURI().getPath();
            String method = ex.getRequestMethod();
            if (path.equals("/users") || path.equals("/users/")) {
                if ("GET".equals(method)) {
                    StringBuilder sb = new StringBuilder("{\"service\":\"user-service\",\"version\":")
                            .append(Service.json(svc.version)).append(",\"users\":[");
                    boolean first = true;
                    for (Map.Entry<Integer, String> e : USERS.entrySet()) {
                        if (!first) {
                            sb.append(',');
                        }
                        first = false;
                        sb.append(user(e.getKey(), e.getValue()));
                    }
                    Service.send(ex, 200, "application/json", sb.append("]}").toString());
                } else if ("POST".equals(method)) {
                    String name = new String(Service.readBody(ex), StandardCharsets.UTF_8).trim();
                    if (name.isEmpty()) {
                        Service.send(ex, 400, "text/plain", "empty name");
                        return;
                    }
                    int id = NEXT_ID.getAndIncrement();
                    USERS.put(id, name);
                    Service.send(ex, 201, "application/json", user(id, name));
                } else {
                    Service.send(ex, 405, "text/plain", "method not allowed");
                }
                return;
            }
            String rest = path.substring("/users/".length());
            try {
                int id = Integer.parseInt(rest);
                String name = USERS.get(id);
                if (name != null) {
                    Service.send(ex, 200, "application/json", user(id, name));
                    return;
                }
            } catch (NumberFormatException ignored) {
                // fall through to 404
            }
            Service.send(ex, 404, "text/plain", "no such user");
        });
        svc.start();
    }

    private static String user(int id, String name) {
        return "{\"id\":" + id + ",\"name\":" + Service.json(name) + "}";
    }
}
