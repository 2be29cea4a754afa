/* Live-kernel side of benchmarks/file_read_faults.py: read faults per second on a
 * MAP_PRIVATE mapping of a file whose pages are all in the page cache (so every fault
 * is minor and fault-around maps up to 16 cached pages per fault). Each round maps the
 * file, reads one byte of every page, and unmaps it; the best round is printed.
 * usage: path file_mib rounds */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
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
	const char *path = argv[1];
	size_t len = (size_t)atol(argv[2]) << 20;
	int rounds = argc > 3 ? atoi(argv[3]) : 5;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 1;
	char page[4096];
	for (int i = 0; i < 4096; i++)
		page[i] = (char)(i + 1);
	/* one page per write(2): order-0 folios on 6.x, as 4.6 has (see
	 * docs/deviations.md, large folios) */
	for (size_t off = 0; off < len; off += 4096)
		if (write(fd, page, 4096) != 4096)
			return 2;
	fsync(fd);
	double best = 1e9;
	long faults = 0;
	volatile char sink = 0;
	for (int r = 0; r < rounds; r++) {
		char *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			return 3;
		struct rusage a, b;
		getrusage(RUSAGE_SELF, &a);
		double t0 = now();
		for (size_t off = 0; off < len; off += 4096)
			sink += p[off];
		double t = now() - t0;
		getrusage(RUSAGE_SELF, &b);
		if (b.ru_majflt != a.ru_majflt)
			return 4;                       /* a page was not cached */
		faults = b.ru_minflt - a.ru_minflt;
		if (t < best)
			best = t;
		munmap(p, len);
	}
	close(fd);
	unlink(path);
	printf("faults %ld\n", faults);
	printf("pages %ld\n", (long)(len >> 12));
	printf("fault_seconds %.9f\n", best);
	printf("faults_per_second %.1f\n", faults / best);
	printf("pages_per_second %.1f\n", (len >> 12) / best);
	return 0;
}
