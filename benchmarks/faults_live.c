/* Live-kernel side of benchmarks/faults.py: anonymous write faults per second on a
 * MADV_NOHUGEPAGE region touched one page at a time, and fork+exit of a process that
 * has the region touched. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t len = (size_t)atol(argv[1]) << 20;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	double best = 1e9, fork_best = 1e9;
	long faults = 0;
	for (int r = 0; r < rounds; r++) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 1;
		madvise(p, len, MADV_NOHUGEPAGE);
		struct rusage a, b;
		getrusage(RUSAGE_SELF, &a);
		double t0 = now();
		for (size_t off = 0; off < len; off += 4096)
			p[off] = 1;
		double t = now() - t0;
		getrusage(RUSAGE_SELF, &b);
		faults = b.ru_minflt - a.ru_minflt;
		if (t < best)
			best = t;
		t0 = now();
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
		t = now() - t0;
		if (t < fork_best)
			fork_best = t;
		munmap(p, len);
	}
	printf("faults %ld\n", faults);
	printf("fault_seconds %.9f\n", best);
	printf("faults_per_second %.1f\n", faults / best);
	printf("fork_exit_seconds %.9f\n", fork_best);
	return 0;
}
