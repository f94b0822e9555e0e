/*
 * The libgearman side of the comparison: a client that submits JOBS echo
 * jobs through libgearman, CONCURRENCY at a time (one batch of tasks run to
 * completion, then the next), checks every result and prints the same
 * summary line as the Rust load generator.
 *
 * usage: client --server HOST:PORT --jobs N --concurrency C --payload BYTES
 *               [--function NAME] [--background]
 */
#include <libgearman/gearman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct job {
  size_t index;
  double submitted;
};

struct run {
  size_t payload_size;
  size_t completed;
  size_t wrong;
  double *latencies;
  size_t latency_count;
  char *expected;
};

static struct run run;

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Job i carries its index in its first 16 bytes, so a result that belongs
 * to another job is caught. */
static void fill_payload(char *out, size_t size, size_t index) {
  char digits[17];
  snprintf(digits, sizeof digits, "%016zu", index);
  for (size_t i = 0; i < size; i++) {
    out[i] = i < 16 ? digits[i] : (char)('a' + (i % 26));
  }
}

static void record(gearman_task_st *task) {
  struct job *job = gearman_task_context(task);
  run.latencies[run.latency_count++] = now_seconds() - job->submitted;
}

static gearman_return_t on_complete(gearman_task_st *task) {
  struct job *job = gearman_task_context(task);
  fill_payload(run.expected, run.payload_size, job->index);
  if (gearman_task_data_size(task) != run.payload_size ||
      memcmp(gearman_task_data(task), run.expected, run.payload_size) != 0) {
    run.wrong++;
  }
  run.completed++;
  record(task);
  return GEARMAN_SUCCESS;
}

static gearman_return_t on_created(gearman_task_st *task) {
  /* Background jobs end when the server has queued them. */
  run.completed++;
  record(task);
  return GEARMAN_SUCCESS;
}

static gearman_return_t on_failure(gearman_task_st *task) {
  run.wrong++;
  run.completed++;
  record(task);
  return GEARMAN_SUCCESS;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double percentile(double p) {
  if (run.latency_count == 0) return 0;
  size_t at = (size_t)(p / 100.0 * (double)(run.latency_count - 1) + 0.5);
  return run.latencies[at];
}

static void usage(void) {
  fprintf(stderr,
          "usage: client --server HOST:PORT --jobs N --concurrency C "
          "--payload BYTES [--function NAME] [--background]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *server = NULL, *function = "echo";
  size_t jobs = 10000, concurrency = 1;
  int background = 0;
  run.payload_size = 100;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(arg, "--background") == 0) {
      background = 1;
      continue;
    }
    if (value == NULL) usage();
    if (strcmp(arg, "--server") == 0) server = value;
    else if (strcmp(arg, "--function") == 0) function = value;
    else if (strcmp(arg, "--jobs") == 0) jobs = strtoull(value, NULL, 10);
    else if (strcmp(arg, "--concurrency") == 0) concurrency = strtoull(value, NULL, 10);
    else if (strcmp(arg, "--payload") == 0) run.payload_size = strtoull(value, NULL, 10);
    else usage();
    i++;
  }
  if (server == NULL || jobs == 0 || concurrency == 0) usage();
  char host[256];
  const char *colon = strrchr(server, ':');
  if (colon == NULL || (size_t)(colon - server) >= sizeof host) usage();
  memcpy(host, server, (size_t)(colon - server));
  host[colon - server] = '\0';
  in_port_t port = (in_port_t)atoi(colon + 1);

  gearman_client_st *client = gearman_client_create(NULL);
  if (client == NULL || gearman_client_add_server(client, host, port) != GEARMAN_SUCCESS) {
    fprintf(stderr, "client: cannot set up libgearman for %s\n", server);
    return 1;
  }
  gearman_client_set_complete_fn(client, on_complete);
  gearman_client_set_fail_fn(client, on_failure);
  gearman_client_set_exception_fn(client, on_failure);
  if (background) gearman_client_set_created_fn(client, on_created);

  run.latencies = calloc(jobs, sizeof(double));
  run.expected = malloc(run.payload_size + 1);
  struct job *batch = calloc(concurrency, sizeof(struct job));
  char *payloads = malloc(concurrency * (run.payload_size + 1));
  if (!run.latencies || !run.expected || !batch || !payloads) return 1;

  double started = now_seconds();
  double cpu_started = cpu_seconds();
  size_t submitted = 0;
  while (submitted < jobs) {
    size_t count = jobs - submitted < concurrency ? jobs - submitted : concurrency;
    double at = now_seconds();
    for (size_t k = 0; k < count; k++) {
      char *payload = payloads + k * (run.payload_size + 1);
      batch[k].index = submitted + k;
      batch[k].submitted = at;
      fill_payload(payload, run.payload_size, batch[k].index);
      gearman_return_t ret;
      if (background)
        gearman_client_add_task_background(client, NULL, &batch[k], function, NULL, payload,
                                           run.payload_size, &ret);
      else
        gearman_client_add_task(client, NULL, &batch[k], function, NULL, payload,
                                run.payload_size, &ret);
      if (ret != GEARMAN_SUCCESS) {
        fprintf(stderr, "client: add_task: %s\n", gearman_client_error(client));
        return 1;
      }
    }
    gearman_return_t ret = gearman_client_run_tasks(client);
    if (ret != GEARMAN_SUCCESS) {
      fprintf(stderr, "client: run_tasks: %s\n", gearman_client_error(client));
      return 1;
    }
    gearman_client_task_free_all(client);
    submitted += count;
  }
  double elapsed = now_seconds() - started;
  double cpu = cpu_seconds() - cpu_started;

  qsort(run.latencies, run.latency_count, sizeof(double), compare_doubles);
  printf("libgearman: jobs=%zu concurrency=%zu payload=%zu elapsed=%.3fs %.0f jobs/s "
         "latency p50=%.3fms p99=%.3fms max=%.3fms wrong=%zu cpu=%.1fus/job\n",
         jobs, concurrency, run.payload_size, elapsed, (double)jobs / elapsed,
         percentile(50) * 1e3, percentile(99) * 1e3, percentile(100) * 1e3, run.wrong,
         cpu * 1e6 / (double)jobs);
  gearman_client_free(client);
  if (run.completed != jobs || run.wrong != 0) {
    fprintf(stderr, "client: %zu of %zu jobs ended, %zu wrong\n", run.completed, jobs, run.wrong);
    return 1;
  }
  return 0;
}
