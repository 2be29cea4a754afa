/* Live-kernel side of benchmarks/workload.py.
 *
 *   workload_live NPROCS MIB
 *
 * NPROCS processes, one after another: each touches MIB MiB of private anonymous memory,
 * forks a child that writes the first half of it (copy-on-write faults), the child
 * exits, then the process exits. Prints the wall time of the whole run. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG 4096

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void worker(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(1);
	madvise(p, len, MADV_NOHUGEPAGE);
	for (size_t off = 0; off < len; off += PG)
		p[off] = 1;
	pid_t pid = fork();
	if (pid == 0) {
		for (size_t off = 0; off < len / 2; off += PG)
			p[off] = 2;
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	_exit(0);
}

int main(int argc, char **argv)
{
	int nprocs = atoi(argv[1]);
	size_t len = (size_t)atol(argv[2]) << 20;
	double t0 = now();
	for (int i = 0; i < nprocs; i++) {
		pid_t pid = fork();
		if (pid == 0)
			worker(len);
		waitpid(pid, NULL, 0);
	}
	printf("seconds %.9f\n", now() - t0);
	return 0;
}
