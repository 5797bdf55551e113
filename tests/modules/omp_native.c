/* An OpenMP program whose team size comes from OMP_NUM_THREADS, as most
 * do: `parallel for` with a reduction, `critical`, `barrier`, `single`,
 * `ordered`, a sleep inside `critical`, tasks with `atomic`, omp locks
 * (plain and nested), `omp_get_thread_num`, and a nested `parallel` (two
 * active levels, so the inner teams are threads of their own). Prints one line per check,
 * prefixed with argv[1]; exits 0 when every check holds.
 *
 * With argv[2] = "hold": a team of three waits inside its region until
 * the file argv[3] exists, so that it can be inspected meanwhile. */
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAXT 64

static int hold(const char *tag, const char *path) {
  int team = 0;
#pragma omp parallel num_threads(3)
  {
#pragma omp single
    team = omp_get_num_threads();
    while (access(path, F_OK) != 0) usleep(2000);
  }
  printf("%s held team %d\n", tag, team);
  return team == 3 ? 0 : 1;
}

int main(int argc, char **argv) {
  const char *tag = argc > 1 ? argv[1] : "x";
  if (argc > 3 && strcmp(argv[2], "hold") == 0) return hold(tag, argv[3]);
  int failures = 0;
  int max = omp_get_max_threads();
  printf("%s max threads %d procs %d in parallel %d\n", tag, max, omp_get_num_procs(),
         omp_in_parallel());

  long sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
  for (long i = 1; i <= 300000; i++) sum += i;
  printf("%s parallel for sum %ld\n", tag, sum);
  failures += sum != 300000L * 300001L / 2;

  int seen[MAXT] = {0};
  int team = 0, critical = 0, after_barrier = 0;
#pragma omp parallel
  {
    int me = omp_get_thread_num();
#pragma omp single
    team = omp_get_num_threads();
#pragma omp critical
    critical++;
    if (me < MAXT) seen[me]++;
#pragma omp barrier
    int all = 0;
    for (int i = 0; i < team && i < MAXT; i++) all += seen[i];
#pragma omp critical
    after_barrier += all == team;
  }
  int each_once = 1;
  for (int i = 0; i < team && i < MAXT; i++) each_once &= seen[i] == 1;
  printf("%s team %d critical %d after barrier %d each thread number once %d\n", tag, team,
         critical, after_barrier, each_once);
  failures += team != max || critical != team || after_barrier != team || !each_once;

  int order[40], next = 0;
#pragma omp parallel for ordered schedule(dynamic, 1)
  for (int i = 0; i < 40; i++) {
#pragma omp ordered
    order[next++] = i;
  }
  int in_order = next == 40;
  for (int i = 0; i < next; i++) in_order &= order[i] == i;
  printf("%s ordered %d\n", tag, in_order);
  failures += !in_order;

  /* A thread that sleeps inside an unnamed critical holds libgomp's one
   * lock for it while it sleeps. */
  int slept = 0;
  for (int r = 0; r < 3; r++) {
#pragma omp parallel
    {
#pragma omp critical
      {
        usleep(300);
        slept++;
      }
    }
  }
  printf("%s slept in critical %d\n", tag, slept);
  failures += slept != 3 * max;

  long tasks = 0;
#pragma omp parallel
#pragma omp single
  for (int i = 0; i < 200; i++) {
#pragma omp task shared(tasks)
    {
#pragma omp atomic
      tasks += i;
    }
  }
  printf("%s tasks %ld\n", tag, tasks);
  failures += tasks != 199L * 200 / 2;

  omp_lock_t lock;
  omp_nest_lock_t nest;
  omp_init_lock(&lock);
  omp_init_nest_lock(&nest);
  long locked = 0;
  int deepest = 0;
#pragma omp parallel for schedule(dynamic, 7)
  for (int i = 0; i < 3000; i++) {
    omp_set_lock(&lock);
    locked += i % 11;
    omp_unset_lock(&lock);
    omp_set_nest_lock(&nest);
    int depth = omp_test_nest_lock(&nest);
    if (depth > deepest) deepest = depth;
    omp_unset_nest_lock(&nest);
    omp_unset_nest_lock(&nest);
  }
  omp_destroy_lock(&lock);
  omp_destroy_nest_lock(&nest);
  long want = 0;
  for (int i = 0; i < 3000; i++) want += i % 11;
  printf("%s lock total %ld nest depth %d\n", tag, locked, deepest);
  failures += locked != want || deepest != 2;

  omp_set_max_active_levels(2);
  int inner_teams = 0, inner_threads = 0, levels_ok = 0;
#pragma omp parallel num_threads(2)
  {
#pragma omp parallel num_threads(2)
    {
#pragma omp critical
      {
        inner_threads++;
        inner_teams += omp_get_thread_num() == 0;
        levels_ok += omp_get_level() == 2 && omp_get_active_level() == 2 &&
                     omp_get_team_size(1) == 2 && omp_get_num_threads() == 2;
      }
    }
  }
  printf("%s nested teams %d threads %d levels %d\n", tag, inner_teams, inner_threads, levels_ok);
  failures += inner_teams != 2 || inner_threads != 4 || levels_ok != 4;

  printf("%s failures %d\n", tag, failures);
  return failures == 0 ? 0 : 1;
}
