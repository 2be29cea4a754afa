/* One read fault on a file mapping, for tests/test_live_filemap.py: writes the file
 * (in write(2) calls of `chunk` bytes), optionally writes it back and drops it from the
 * page cache, maps it at a 2 MiB-aligned base + map_off pages, reads one byte of
 * fault_page and prints how many pages of the mapping are present afterwards
 * (/proc/self/pagemap bit 63) and the fault counts of that one access.
 * usage: path file_bytes map_off map_pages fault_page uncached chunk */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static sigjmp_buf jb;
static void onbus(int s) { (void)s; siglongjmp(jb, 1); }

static long flt(int maj) {
    struct rusage ru; getrusage(RUSAGE_SELF, &ru);
    return maj ? ru.ru_majflt : ru.ru_minflt;
}

int main(int argc, char **argv) {
    /* path file_bytes map_off_pages map_pages fault_page uncached */
    const char *path = argv[1];
    long fbytes = atol(argv[2]), moff = atol(argv[3]), mpages = atol(argv[4]);
    long fpage = atol(argv[5]); int uncached = atoi(argv[6]);
    long P = 4096;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char *buf = malloc(fbytes + 1);
    for (long i = 0; i < fbytes; i++) buf[i] = (char)(i * 7 + 1);
    long chunk = argc > 7 ? atol(argv[7]) : fbytes;
    for (long o = 0; o < fbytes; o += chunk) {
        long n = fbytes - o < chunk ? fbytes - o : chunk;
        if (write(fd, buf + o, n) != n) return 2;
    }
    if (uncached) { fsync(fd); posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); }
    char *res = mmap(NULL, 8 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uintptr_t base = ((uintptr_t)res + (4 << 20) - 1) & ~(uintptr_t)((2 << 20) - 1);
    char *a = mmap((char *)base + moff * P, mpages * P, PROT_READ, MAP_PRIVATE | MAP_FIXED,
                   fd, 0);
    if (a == MAP_FAILED) return 3;
    signal(SIGBUS, onbus);
    /* warm the signal path (stack pages, libc) with one SIGBUS elsewhere, past EOF of
     * a second mapping, so the measured access's fault counts are its own */
    long wp = fbytes / P + 2;
    char *w = mmap(NULL, wp * P, PROT_READ, MAP_PRIVATE, fd, 0);
    volatile char c = 0;
    if (sigsetjmp(jb, 1) == 0) c = w[(wp - 1) * P];
    munmap(w, wp * P);
    int pm = open("/proc/self/pagemap", O_RDONLY);
    long mn = flt(0), mj = flt(1);
    int bus = 0;
    if (sigsetjmp(jb, 1) == 0) c = a[fpage * P + 1];
    else bus = 1;
    long dmn = flt(0) - mn, dmj = flt(1) - mj;
    int present = 0;
    for (long i = 0; i < mpages; i++) {
        uint64_t e;
        pread(pm, &e, 8, ((uintptr_t)a / P + i) * 8);
        if (e >> 63) present++;
    }
    printf("present=%d minflt=%ld majflt=%ld sigbus=%d byte=%d\n", present, dmn, dmj, bus,
           (int)(unsigned char)c);
    unlink(path);
    return 0;
}
