/*
 * The libgearman side of the comparison: one worker process that registers
 * an echo function (the result is the workload) and works until killed or
 * until the server goes away.
 *
 * usage: worker --server HOST:PORT [--function NAME]
 */
#include <libgearman/gearman.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *echo(gearman_job_st *job, void *context, size_t *result_size,
                  gearman_return_t *ret_ptr) {
  (void)context;
  size_t size = gearman_job_workload_size(job);
  void *result = malloc(size > 0 ? size : 1);
  if (result == NULL) {
    *ret_ptr = GEARMAN_WORK_FAIL;
    return NULL;
  }
  memcpy(result, gearman_job_workload(job), size);
  *result_size = size;
  *ret_ptr = GEARMAN_SUCCESS;
  return result;
}

int main(int argc, char **argv) {
  const char *server = NULL, *function = "echo";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--server") == 0) server = argv[i + 1];
    else if (strcmp(argv[i], "--function") == 0) function = argv[i + 1];
  }
  if (server == NULL) {
    fprintf(stderr, "usage: worker --server HOST:PORT [--function NAME]\n");
    return 2;
  }
  char host[256];
  const char *colon = strrchr(server, ':');
  if (colon == NULL || (size_t)(colon - server) >= sizeof host) return 2;
  memcpy(host, server, (size_t)(colon - server));
  host[colon - server] = '\0';

  gearman_worker_st *worker = gearman_worker_create(NULL);
  if (worker == NULL ||
      gearman_worker_add_server(worker, host, (in_port_t)atoi(colon + 1)) != GEARMAN_SUCCESS ||
      gearman_worker_add_function(worker, function, 0, echo, NULL) != GEARMAN_SUCCESS) {
    fprintf(stderr, "worker: cannot set up libgearman for %s\n", server);
    return 1;
  }
  for (;;) {
    gearman_return_t ret = gearman_worker_work(worker);
    if (ret != GEARMAN_SUCCESS) {
      fprintf(stderr, "worker: %s\n", gearman_worker_error(worker));
      gearman_worker_free(worker);
      return 1;
    }
  }
}
