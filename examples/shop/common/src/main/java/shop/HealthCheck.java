package shop;

import java.net.HttpURLConnection;
import java.net.URL;

/**
 * Tiny health probe for images that contain nothing but a JRE (no curl/wget).
 *
 * <pre>java -cp /app.jar shop.HealthCheck [url]</pre>
 *
 * Exits 0 when the URL (default http://127.0.0.1:8080/health) answers 2xx,
 * 1 otherwise. Used by the compose healthchecks.
 */
public final class HealthCheck {
    private HealthCheck() {}

    public static void main(String[] args) {
        String url = args.length > 0 ? args[0] : "http://127.0.0.1:8080/health";
        try {
            HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection();
            c.setConnectTimeout(2000);
            c.setReadTimeout(3000);
            c.setUseCaches(false);
            int code = c.getResponseCode();
            c.disconnect();
            if (code >= 200 && code < 300) {
                System.exit(0);
            }
            System.err.println("unhealthy: " + url + " -> HTTP " + code);
        } catch (Exception e) {
            System.err.println("unhealthy: " + url + " -> " + e);
        }
        System.exit(1);
    }
}
