package shop;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

/**
 * Shared plumbing of the example services: port from $PORT, GET /health,
 * GET /version (from the jar manifest) and the "broken build" switch.
 */
public final class Service {
    public final String name;
    public final String version;
    public final boolean broken;
    public final HttpServer server;
    private final ExecutorService pool;
    private final AtomicInteger inFlight = new AtomicInteger();

    public Service(String name, Class<?> mainClass) throws IOException {
        this.name = name;
        Attributes attrs = manifest(mainClass);
        String v = mainClass.getPackage().getImplementationVersion();
        if (v == null && attrs != null) {
            v = attrs.getValue(Attributes.Name.IMPLEMENTATION_VERSION);
        }
        this.version = v == null ? "dev" : v.trim();
        boolean bakedBroken = attrs != null
                && "true".equalsIgnoreCase(trim(attrs.getValue("X-Hoist-Example-Broken")));
        this.broken = bakedBroken || "1".equals(System.getenv("HOIST_EXAMPLE_FAIL_HEALTH"));

        int port = Integer.parseInt(env("PORT", "8080"));
        this.server = HttpServer.create(new InetSocketAddress(port), 64);
        this.pool = Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, name + "-http");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(pool);
        route("/health", ex -> {
            if (broken) {
                send(ex, 500, "text/plain", "broken build (" + version + ")");
            } else {
                send(ex, 200, "text/plain", "ok");
            }
        });
        route("/version", ex -> send(ex, 200, "text/plain", version));
    }

    /** Registers a GET-only (unless the handler checks the method itself) route. */
    public void route(String path, HttpHandler h) {
        server.createContext(path, ex -> {
            inFlight.incrementAndGet();
            try {
                if (path.equals("/health") || path.equals("/version")) {
                    if (!ex.getRequestURI().getPath().equals(path)) {
                        send(ex, 404, "text/plain", "not found");
                        return;
                    }
                    if (!"GET".equals(ex.getRequestMethod()) && !"HEAD".equals(ex.getRequestMethod())) {
                        send(ex, 405, "text/plain", "method not allowed");
                        return;
                    }
                }
                h.handle(ex);
            } catch (Exception e) {
                try {
                    send(ex, 500, "text/plain", "error: " + e);
                } catch (IOException ignored) {
                    // client went away
                }
            } finally {
                ex.close();
                inFlight.decrementAndGet();
            }
        });
    }

    public void start() {
        server.start();
        // SIGTERM: let requests in progress finish (at most 5 s), then stop at once.
        // (HttpServer.stop(n) of JDK 17 always waits the full n seconds.)
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            long until = System.nanoTime() + 5_000_000_000L;
            while (inFlight.get() > 0 && System.nanoTime() < until) {
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    break;
                }
            }
            server.stop(0);
            pool.shutdownNow();
        }, "shutdown"));
        System.out.println(name + " " + version + " listening on :" + server.getAddress().getPort()
                + (broken ? " (BROKEN: /health answers 500)" : ""));
        System.out.flush();
    }

    public static void send(HttpExchange ex, int code, String type, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type + "; charset=utf-8");
        if ("HEAD".equals(ex.getRequestMethod())) {
            ex.sendResponseHeaders(code, -1);
            return;
        }
        ex.sendResponseHeaders(code, b.length == 0 ? -1 : b.length);
        if (b.length > 0) {
            try (OutputStream os = ex.getResponseBody()) {
                os.write(b);
            }
        }
    }

    public static byte[] readBody(HttpExchange ex) throws IOException {
        try (InputStream in = ex.getRequestBody()) {
            return in.readAllBytes();
        }
    }

    public static String env(String key, String dflt) {
        String v = System.getenv(key);
        return v == null || v.isEmpty() ? dflt : v;
    }

    /** JSON string literal. */
    public static String json(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
            }
        }
        return sb.append('"').toString();
    }

    private static String trim(String s) {
        return s == null ? null : s.trim();
    }

    /** Main attributes of the jar that holds {@code c}, or null when not run from a jar. */
    private static Attributes manifest(Class<?> c) {
        try {
            URL loc = c.getProtectionDomain().getCodeSource().getLocation();
            if (loc == null || !loc.getPath().endsWith(".jar")) {
                return null;
            }
            try (JarFile jf = new JarFile(new java.io.File(loc.toURI()))) {
                Manifest m = jf.getManifest();
                return m == null ? null : m.getMainAttributes();
            }
        } catch (Exception e) {
            return null;
        }
    }
}
