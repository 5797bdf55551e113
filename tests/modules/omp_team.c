/* An OpenMP program: libgomp's team threads, `parallel for` with a
 * reduction, `critical`, `barrier`, `single` and omp locks. Prints one line
 * per check, prefixed with argv[1]; exits 0 when every check holds. The team
 * size is fixed (4) so the output does not depend on the machine. */
#include <omp.h>
#include <stdio.h>

int main(int argc, char **argv) {
  const char *tag = argc > 1 ? argv[1] : "x";
  int failures = 0;
  omp_set_num_threads(4);

  long sum = 0;
#pragma omp parallel for reduction(+ : sum)
  for (int i = 1; i <= 100000; i++) sum += i;
  printf("%s parallel for sum %ld\n", tag, sum);
  failures += sum != 5000050000L;

  int team = 0, critical = 0, after_barrier = 0, single = 0;
  int before[4] = {0};
#pragma omp parallel
  {
#pragma omp single
    team = omp_get_num_threads();
#pragma omp critical
    critical++;
    before[omp_get_thread_num()] = 1;
#pragma omp barrier
    int all = before[0] + before[1] + before[2] + before[3];
#pragma omp critical
    after_barrier += all == team;
#pragma omp single
    single++;
  }
  printf("%s team %d critical %d after barrier %d single %d\n", tag, team, critical,
         after_barrier, single);
  failures += team != 4 || critical != 4 || after_barrier != 4 || single != 1;

  omp_lock_t lock;
  omp_init_lock(&lock);
  long locked = 0;
#pragma omp parallel for
  for (int i = 0; i < 4000; i++) {
    omp_set_lock(&lock);
    locked += i % 7;
    omp_unset_lock(&lock);
  }
  omp_destroy_lock(&lock);
  printf("%s lock total %ld\n", tag, locked);
  failures += locked != 11994;

  printf("%s failures %d\n", tag, failures);
  return failures == 0 ? 0 : 1;
}
