/* Accounting of file-backed memory, for tests/test_live_fileacct.py: one scenario per
 * run. The program makes a file of `pages` pages on a disk filesystem (one page per
 * write(2), so a 6.x kernel caches order-0 folios as 4.6 caches pages; fsync unless the
 * scenario wants dirty cache), maps it, touches it and prints one line of key=value:
 * the smaps fields of the file mapping, RssFile/RssAnon deltas from /proc/self/status,
 * pagemap bit counts over the mapping (present, 61 file, 56 exclusive), the kpageflags
 * bits and kpagecount of chosen pages, and nr_mapped/Mapped deltas.
 * usage: scenario path pages */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define P 4096L

static char buf[1 << 20];

static long status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = atol(line + n + 1);
	fclose(f);
	return v;
}

static long file_value(const char *path, const char *key, int colon)
{
	FILE *f = fopen(path, "r");
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, n) && line[n] == (colon ? ':' : ' '))
			v = atol(line + n + 1);
	fclose(f);
	return v;
}

static void stat_refresh(void)
{
	/* fold the per-CPU vmstat deltas (root only; harmless when it fails) */
	int fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1\n", 2) < 0) {}
		close(fd);
	}
}

static void print_smaps(const char *who, void *addr)
{
	static const char *keys[] = {"Rss", "Pss", "Shared_Clean", "Shared_Dirty",
				     "Private_Clean", "Private_Dirty", "Referenced",
				     "Anonymous", NULL};
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512], head[64];
	int in = 0;
	snprintf(head, sizeof head, "%lx-", (unsigned long)addr);
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, head, strlen(head))) {
			in = 1;
			continue;
		}
		if (!in)
			continue;
		if (!strncmp(line, "VmFlags", 7))
			break;
		for (int i = 0; keys[i]; i++) {
			size_t n = strlen(keys[i]);
			if (!strncmp(line, keys[i], n) && line[n] == ':')
				printf("%s%s=%ld ", who, keys[i], atol(line + n + 1));
		}
	}
	fclose(f);
}

static uint64_t pagemap(void *addr)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;
	if (pread(fd, &e, 8, ((uintptr_t)addr / P) * 8) != 8)
		e = 0;
	close(fd);
	return e;
}

static void print_pagemap(const char *who, char *a, long n)
{
	int present = 0, file = 0, excl = 0;
	for (long i = 0; i < n; i++) {
		uint64_t e = pagemap(a + i * P);
		present += e >> 63 & 1;
		file += e >> 61 & 1;
		excl += e >> 56 & 1;
	}
	printf("%spresent=%d %sfile=%d %sexcl=%d ", who, present, who, file, who, excl);
}

static void print_kpage(const char *who, void *addr)
{
	uint64_t e = pagemap(addr), pfn = e & ((1ULL << 55) - 1), flags = 0, count = 0;
	int fd = open("/proc/kpageflags", O_RDONLY), fc = open("/proc/kpagecount", O_RDONLY);
	if (!(e >> 63) || !pfn || fd < 0 || fc < 0 ||
	    pread(fd, &flags, 8, pfn * 8) != 8 || pread(fc, &count, 8, pfn * 8) != 8) {
		printf("%skpf=-1 %skpc=-1 ", who, who);
	} else {
		printf("%skpf=%llu %skpc=%llu ", who, (unsigned long long)flags, who,
		       (unsigned long long)count);
	}
	if (fd >= 0)
		close(fd);
	if (fc >= 0)
		close(fc);
}

static int make_file(const char *path, long pages, int sync)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	for (long i = 0; i < P; i++)
		buf[i] = (char)(i * 7 + 1);
	for (long i = 0; i < pages; i++)
		if (write(fd, buf, P) != P)
			exit(2);
	if (sync)
		fsync(fd);
	return fd;
}

static void touch(char *a, long n)
{
	volatile char c = 0;
	for (long i = 0; i < n; i++)
		c += a[i * P];
	(void)c;
}

int main(int argc, char **argv)
{
	const char *sc = argv[1], *path = argv[2];
	long n = atol(argv[3]);
	unsigned long mask = 1UL << (sched_getcpu() & 63);
	syscall(SYS_sched_setaffinity, 0, sizeof(mask), &mask);
	int dirty = !strcmp(sc, "dirty_cache_private_read");
	int fd = make_file(path, n, !dirty);
	/* warm the code and stdio paths the measurement uses, so the RSS deltas (taken
	 * right before the mapping and right after the touches) are the scenario's own */
	print_smaps("warm_", buf);
	print_kpage("warm_", buf);
	touch(buf, 1);
	file_value("/proc/vmstat", "nr_mapped", 0);
	printf("warm_=%ld ", status_kb("RssFile") * 0);
	long file0 = status_kb("RssFile"), anon0 = status_kb("RssAnon"), file1, anon1;
#define SNAP() (file1 = status_kb("RssFile"), anon1 = status_kb("RssAnon"))

	if (!strcmp(sc, "private_read") || dirty || !strcmp(sc, "private_write_cow")) {
		char *a = mmap(NULL, n * P, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		touch(a, n);
		if (!strcmp(sc, "private_write_cow"))
			a[3 * P] = 1;
		SNAP();
		print_smaps("", a);
		print_pagemap("", a, n);
		print_kpage("p0", a);
		print_kpage("p3", a + 3 * P);
	} else if (!strcmp(sc, "fork_child_reads")) {
		char *a = mmap(NULL, n * P, PROT_READ, MAP_PRIVATE, fd, 0);
		touch(a, n);
		int up[2], down[2];
		if (pipe(up) || pipe(down))
			return 4;
		pid_t pid = fork();
		char c = 0;
		if (pid == 0) {
			touch(a, n);
			if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1) {}
			_exit(0);
		}
		if (read(up[0], &c, 1) != 1)
			return 5;
		SNAP();
		print_smaps("", a);
		print_pagemap("", a, n);
		print_kpage("p0", a);
		if (write(down[1], &c, 1) != 1) {}
		waitpid(pid, NULL, 0);
		print_smaps("after_exit_", a);
	} else if (!strcmp(sc, "shared_two_mappings")) {
		char *a = mmap(NULL, n * P, PROT_READ, MAP_SHARED, fd, 0);
		char *b = mmap(NULL, n * P, PROT_READ, MAP_SHARED, fd, 0);
		touch(a, n);
		touch(b, n / 2);
		SNAP();
		print_smaps("a", a);
		print_smaps("b", b);
		print_pagemap("a", a, n);
		print_kpage("a0", a);
		print_kpage("alast", a + (n - 1) * P);
	} else if (!strcmp(sc, "pagemap_file_anon_zero")) {
		char *a = mmap(NULL, n * P, PROT_READ, MAP_PRIVATE, fd, 0);
		char *w = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *z = mmap(NULL, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		touch(a, 1);
		w[0] = 1;
		touch(z, 1);
		SNAP();
		print_pagemap("f", a, 1);
		print_pagemap("w", w, 1);
		print_pagemap("z", z, 1);
		print_kpage("f", a);
		print_kpage("w", w);
	} else if (!strcmp(sc, "maps_dev_inode")) {
		char *a = mmap(NULL, n * P, PROT_READ, MAP_SHARED, fd, P);
		SNAP();
		struct stat st;
		fstat(fd, &st);
		FILE *f = fopen("/proc/self/maps", "r");
		char line[512], want[128];
		snprintf(want, sizeof want, "%lx-%lx r--s %08lx %02x:%02x %lu ",
			 (unsigned long)a, (unsigned long)(a + n * P), (unsigned long)P,
			 major(st.st_dev), minor(st.st_dev), (unsigned long)st.st_ino);
		int match = 0;
		while (fgets(line, sizeof line, f))
			if (!strncmp(line, want, strlen(want)) && strstr(line, path))
				match = 1;
		fclose(f);
		printf("maps_match=%d ", match);
	} else if (!strcmp(sc, "maps_unlinked")) {
		char *a = mmap(NULL, n * P, PROT_READ, MAP_PRIVATE, fd, 0);
		SNAP();
		unlink(path);
		FILE *f = fopen("/proc/self/maps", "r");
		char line[512], head[64], tail[512];
		snprintf(head, sizeof head, "%lx-", (unsigned long)a);
		snprintf(tail, sizeof tail, " %s (deleted)\n", path);
		int match = 0;
		while (fgets(line, sizeof line, f))
			if (!strncmp(line, head, strlen(head)) && strlen(line) > strlen(tail) &&
			    !strcmp(line + strlen(line) - strlen(tail), tail))
				match = 1;
		fclose(f);
		printf("deleted_match=%d ", match);
	} else if (!strcmp(sc, "nr_mapped_delta")) {
		stat_refresh();
		long v0 = file_value("/proc/vmstat", "nr_mapped", 0);
		long k0 = file_value("/proc/meminfo", "Mapped", 1);
		char *a = mmap(NULL, n * P, PROT_READ, MAP_PRIVATE, fd, 0);
		touch(a, n);
		SNAP();
		stat_refresh();
		long v1 = file_value("/proc/vmstat", "nr_mapped", 0);
		long k1 = file_value("/proc/meminfo", "Mapped", 1);
		printf("d_nr_mapped=%ld d_Mapped=%ld ", v1 - v0, k1 - k0);
		munmap(a, n * P);
		stat_refresh();
		printf("d_nr_mapped_unmap=%ld ", file_value("/proc/vmstat", "nr_mapped", 0) - v1);
	} else {
		return 6;
	}
	printf("dRssFile=%ld dRssAnon=%ld\n", file1 - file0, anon1 - anon0);
	unlink(path);
	return 0;
}
