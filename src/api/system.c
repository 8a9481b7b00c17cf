/*
 * System routes: index, liveness, readiness, Prometheus metrics, the
 * OpenAPI document and the Swagger UI served from the binary.
 */
#include "api/api.h"
#include "core/assets.h"
#include "core/config.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <dirent.h>

static int64_t started_at;

static void index_(struct armor_req *r) {
  json_t *d = json_object();
  json_object_set_new(d, "name", json_string("armor"));
  json_object_set_new(d, "version", json_string(ARMOR_VERSION));
  json_t *authors = json_array();
  json_array_append_new(authors, json_string("The Armor authors"));
  json_object_set_new(d, "authors", authors);
  json_object_set_new(d, "license", json_string("AGPL-3.0-or-later"));
  armor_reply_ok(r, 200, "Armor authentication server", d);
}

static void health(struct armor_req *r) {
  static const char body[] = "{\"success\":true,\"message\":\"ok\",\"data\":{\"status\":\"ok\"}}";
  armor_reply_static(r, 200, "application/json", body, sizeof body - 1);
}

static void ready(struct armor_req *r) {
  if (armor_store_ping() != ARMOR_OK) {
    armor_reply_header(r, "Retry-After", "1");
    armor_reply_error(r, 503, "UNAVAILABLE", "Database unreachable", NULL);
    return;
  }
  json_t *d = json_object();
  json_object_set_new(d, "status", json_string("ready"));
  json_object_set_new(d, "database", json_string(armor_store_kind() == ARMOR_DB_POSTGRES ? "postgres" : "sqlite"));
  armor_reply_ok(r, 200, "ready", d);
}

static void process_metrics(struct armor_buf *b) {
  long pages = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
  }
  long ps = sysconf(_SC_PAGESIZE);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               (double)ru.ru_stime.tv_usec / 1e6;
  int fds = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    while (readdir(d)) fds++;
    closedir(d);
    fds -= 2;
  }
  armor_buf_printf(b,
                   "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                   "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n"
                   "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                   "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %ld\n"
                   "# HELP process_cpu_seconds_total Total user and system CPU time in seconds.\n"
                   "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.3f\n"
                   "# HELP process_open_fds Number of open file descriptors.\n"
                   "# TYPE process_open_fds gauge\nprocess_open_fds %d\n"
                   "# HELP process_start_time_seconds Start time of the process since the Unix epoch.\n"
                   "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %lld\n"
                   "# HELP armor_build_info Build information.\n"
                   "# TYPE armor_build_info gauge\narmor_build_info{version=\"%s\"} 1\n",
                   rss * ps, pages * ps, cpu, fds, (long long)started_at, ARMOR_VERSION);
}

/* Other modules append their counters through this hook list. */
#define MAX_METRIC_HOOKS 16
static void (*hooks[MAX_METRIC_HOOKS])(struct armor_buf *);
static int nhooks;
void armor_metrics_register(void (*fn)(struct armor_buf *)) {
  if (nhooks < MAX_METRIC_HOOKS) hooks[nhooks++] = fn;
}

static void metrics(struct armor_req *r) {
  struct armor_buf b;
  armor_buf_init(&b, 8 << 20);
  armor_http_metrics(&b);
  process_metrics(&b);
  for (int i = 0; i < nhooks; i++) hooks[i](&b);
  armor_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len);
  armor_buf_free(&b);
}

static void openapi(struct armor_req *r) {
  size_t n;
  const char *t = armor_openapi_text(&n);
  armor_reply_static(r, 200, "application/json", t, n);
}

static const char docs_html[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Armor API</title>"
    "<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\"><link rel=\"icon\" href=\"/docs/favicon-32x32.png\"></head>"
    "<body><div id=\"swagger-ui\"></div><script src=\"/docs/swagger-ui-bundle.js\"></script>"
    "<script src=\"/docs/swagger-ui-standalone-preset.js\"></script><script "
    "src=\"/docs/init.js\"></script></body></html>\n";
static const char docs_init[] =
    "window.onload = function () { window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui',"
    " deepLinking: true, presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],"
    " layout: 'StandaloneLayout' }); };\n";

static const char *mime_of(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return "application/octet-stream";
  if (!strcmp(dot, ".js")) return "text/javascript; charset=utf-8";
  if (!strcmp(dot, ".css")) return "text/css; charset=utf-8";
  if (!strcmp(dot, ".html")) return "text/html; charset=utf-8";
  if (!strcmp(dot, ".png")) return "image/png";
  if (!strcmp(dot, ".svg")) return "image/svg+xml";
  if (!strcmp(dot, ".json")) return "application/json";
  return "application/octet-stream";
}

static void docs(struct armor_req *r) {
  const char *rest = armor_req_param(r, "*");
  armor_reply_header(r, "Cache-Control", "public, max-age=3600");
  armor_reply_header(r, "X-Frame-Options", "DENY");
  if (!rest || !*rest || !strcmp(rest, "index.html")) {
    armor_reply_header(
        r, "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
    armor_reply_static(r, 200, "text/html; charset=utf-8", docs_html, sizeof docs_html - 1);
    return;
  }
  if (!strcmp(rest, "init.js")) {
    armor_reply_static(r, 200, "text/javascript; charset=utf-8", docs_init, sizeof docs_init - 1);
    return;
  }
  const struct armor_asset *a = strchr(rest, '/') ? NULL : armor_asset_find("swagger", rest);
  if (!a) {
    armor_reply_error(r, 404, "NOT_FOUND", "No such file", NULL);
    return;
  }
  armor_reply_static(r, 200, mime_of(rest), a->start, (size_t)(a->end - a->start));
}

static void docs_redirect(struct armor_req *r) { armor_reply_redirect(r, 301, "/docs/"); }

void armor_system_init(void) { started_at = armor_time(); }

/* ---------------------------------------------------------------- diagnostics for the test suite
 * Matched only when ARMOR_TEST_ROUTES=1 (ROUTE_TEST): they let the API tests drive the HTTP layer's body
 * checks, field validation, the worker pool and the drain on SIGTERM without depending on other modules. */

static void test_echo(struct armor_req *r) {
  static const char *const known[] = {"name", "count", "flag", "nested", NULL};
  const char *name;
  long long count = 0;
  bool flag = false;
  if (!armor_json_known_or_reply(r, known) || !armor_json_str_or_reply(r, "name", true, 1, 64, &name) ||
      !armor_json_int_or_reply(r, "count", 0, 100, &count, NULL) || !armor_json_bool_or_reply(r, "flag", &flag, NULL))
    return;
  armor_reply_ok(r, 200, "echo", json_incref(r->json));
}

static void test_form(struct armor_req *r) {
  json_t *d = json_object();
  for (int i = 0; i < r->nform; i++) json_object_set_new(d, r->form[i].name, json_string(r->form[i].value));
  armor_reply_ok(r, 200, "form", d);
}

static void test_slow(struct armor_req *r) {
  long long ms = 200;
  const char *q = armor_req_query(r, "ms");
  if (q && !armor_parse_int(q, 0, 10000, &ms)) {
    armor_reply_field_error(r, 400, "VALIDATION_FAILED", "ms", "Query parameter 'ms' must be 0 to 10000");
    return;
  }
  usleep((useconds_t)ms * 1000);
  json_t *d = json_object();
  json_object_set_new(d, "slept_ms", json_integer(ms));
  armor_reply_ok(r, 200, "slept", d);
}

static void test_item(struct armor_req *r) {
  json_t *d = json_object();
  json_object_set_new(d, "id", json_string(armor_req_param(r, "id")));
  json_object_set_new(d, "method", json_string(r->method));
  armor_reply_ok(r, 200, "item", d);
}

const struct armor_route armor_routes_system[] = {
    {"GET", "/", index_, ROUTE_PUBLIC, NULL, 0},
    {"GET", "/health", health, ROUTE_PUBLIC, NULL, 0},
    {"GET", "/ready", ready, ROUTE_PUBLIC, NULL, 0},
    {"GET", "/metrics", metrics, ROUTE_PUBLIC | ROUTE_RAW, NULL, 0},
    {"GET", "/openapi.json", openapi, ROUTE_PUBLIC | ROUTE_RAW, NULL, 0},
    {"GET", "/docs", docs_redirect, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_HIDDEN, NULL, 0},
    {"GET", "/docs/*", docs, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_HIDDEN | ROUTE_PREFIX, NULL, 0},
    {"GET", "/swagger-ui.html", docs_redirect, ROUTE_PUBLIC | ROUTE_RAW, NULL, 0},
    {"POST", "/api/_test/echo", test_echo, ROUTE_TEST | ROUTE_HIDDEN | ROUTE_JSON, NULL, 4096},
    {"POST", "/api/_test/form", test_form, ROUTE_TEST | ROUTE_HIDDEN | ROUTE_FORM, NULL, 0},
    {"GET", "/api/_test/slow", test_slow, ROUTE_TEST | ROUTE_HIDDEN | ROUTE_SLOW, NULL, 0},
    {"GET", "/api/_test/items/{id}", test_item, ROUTE_TEST | ROUTE_HIDDEN, NULL, 0},
    {"DELETE", "/api/_test/items/{id}", test_item, ROUTE_TEST | ROUTE_HIDDEN, NULL, 0},
    {NULL, NULL, NULL, 0, NULL, 0},
};
