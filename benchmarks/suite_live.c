/* Live-kernel side of `python -m benchmarks`: one program, one mode per benchmark row.
 *
 *   suite_live MODE SIZE ROUNDS
 *
 * Every mode runs ROUNDS times and prints the best round as `key value` lines (the model
 * side keeps the best of the same number of rounds). Anonymous regions get
 * MADV_NOHUGEPAGE so the kernel faults 4 KiB pages, as the model does without THP. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
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

static long minflt(void)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return r.ru_minflt;
}

static char *map(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

static void write_all(char *p, size_t len)
{
	for (size_t off = 0; off < len; off += PG)
		p[off] = 1;
}

/* one round of a mode; returns seconds and sets *ops to what was counted */
static double round_of(const char *mode, long size, double *ops)
{
	size_t len = (size_t)size << 20;
	double t0, t;
	if (!strcmp(mode, "write") || !strcmp(mode, "read")) {
		char *p = map(len);
		long f0 = minflt();
		t0 = now();
		if (mode[0] == 'w')
			write_all(p, len);
		else
			for (size_t off = 0; off < len; off += PG)
				(void)*(volatile char *)(p + off);
		t = now() - t0;
		*ops = minflt() - f0;
		munmap(p, len);
		return t;
	}
	if (!strcmp(mode, "cow")) {
		/* the parent writes every page while a forked child still maps them all */
		int go[2];
		char *p = map(len);
		write_all(p, len);
		if (pipe(go))
			exit(1);
		pid_t pid = fork();
		if (pid == 0) {
			char c;
			close(go[1]);
			read(go[0], &c, 1);
			_exit(0);
		}
		close(go[0]);
		long f0 = minflt();
		t0 = now();
		for (size_t off = 0; off < len; off += PG)
			p[off] = 2;
		t = now() - t0;
		*ops = minflt() - f0;
		close(go[1]);
		waitpid(pid, NULL, 0);
		munmap(p, len);
		return t;
	}
	if (!strcmp(mode, "munmap")) {
		char *p = map(len);
		write_all(p, len);
		t0 = now();
		munmap(p, len);
		*ops = len / PG;
		return now() - t0;
	}
	if (!strcmp(mode, "exit")) {
		/* from the moment the child is told to exit until waitpid returns */
		int ready[2], go[2];
		char c = 0;
		if (pipe(ready) || pipe(go))
			exit(1);
		pid_t pid = fork();
		if (pid == 0) {
			char *p = map(len);
			write_all(p, len);
			write(ready[1], &c, 1);
			read(go[0], &c, 1);
			_exit(0);
		}
		read(ready[0], &c, 1);
		t0 = now();
		write(go[1], &c, 1);
		waitpid(pid, NULL, 0);
		t = now() - t0;
		close(ready[0]); close(ready[1]); close(go[0]); close(go[1]);
		*ops = len / PG;
		return t;
	}
	if (!strcmp(mode, "forkexit")) {
		char *p = map(len);
		write_all(p, len);
		t0 = now();
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
		t = now() - t0;
		munmap(p, len);
		*ops = 1;
		return t;
	}
	if (!strncmp(mode, "mmap", 4)) {
		/* SIZE is the number of pairs. mmap64k: 64 KiB never touched, beside 16 one-page
		 * neighbours that were read (so a PTE table covers the region);
		 * mmap64k-bare: no neighbours; mmap64k-touched: every page written first */
		static int neighbours;
		int touched = !strcmp(mode, "mmap64k-touched");
		if (strcmp(mode, "mmap64k-bare") && !neighbours) {
			for (int i = 0; i < 16; i++) {
				volatile char *q = mmap(NULL, PG, i % 2 ? PROT_READ | PROT_WRITE : PROT_READ,
							MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
				(void)q[0];
			}
			neighbours = 1;
		}
		t0 = now();
		for (long i = 0; i < size; i++) {
			char *p = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED)
				exit(1);
			if (touched)
				for (int off = 0; off < 1 << 16; off += PG)
					p[off] = 1;
			munmap(p, 1 << 16);
		}
		*ops = size;
		return now() - t0;
	}
	fprintf(stderr, "unknown mode %s\n", mode);
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s MODE SIZE ROUNDS\n", argv[0]);
		return 2;
	}
	long size = atol(argv[2]);
	int rounds = atoi(argv[3]);
	double best = 1e18, ops = 0;
	for (int r = 0; r < rounds; r++) {
		double n, t = round_of(argv[1], size, &n);
		if (t < best) {
			best = t;
			ops = n;
		}
	}
	printf("seconds %.9f\n", best);
	printf("ops %.0f\n", ops);
	return 0;
}
