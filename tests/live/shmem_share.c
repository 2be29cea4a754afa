/* Shared memory between two processes, for tests/test_live_shmem.py.
 * usage: shmem_share MODE PAGES [PATH]
 *   anon   MAP_SHARED|MAP_ANONYMOUS, 64 KiB-aligned; fork; the child writes every page,
 *          the parent then reads every page
 *   file   PATH on tmpfs, ftruncated to PAGES pages; the child opens and maps it itself
 *          and writes every page, the parent (its own mapping) reads them, then writes
 *          page 0 and the child checks it sees that
 *   sysv   a SysV segment (shmget IPC_PRIVATE) attached with SHM_REMAP; fork; as anon,
 *          and the segment is removed (IPC_RMID) at the end
 * Both pin themselves to CPU 0 and, after their shmem faults, fault 80 private anonymous
 * pages (so 4.6's per-task RSS cache is folded into the mm before status is read).
 * Prints key=value: child_minflt, child_rssshmem (kB), parent_minflt, parent_rssshmem,
 * shmem_kb_delta (meminfo Shmem after the child's writes minus before the mapping),
 * ok (the bytes each side saw). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define P 4096L

static long minflt(void) {
    struct rusage ru; getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static long field_kb(const char *path, const char *key) {
    FILE *f = fopen(path, "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') { v = atol(line + n + 1); break; }
    if (f) fclose(f);
    return v;
}

static void fold_rss(void) {
    char *a = mmap(NULL, 80 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (long i = 0; i < 80; i++) a[i * P] = 1;
}

static char *aligned_area(long bytes) {
    char *res = mmap(NULL, bytes + (1 << 20), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return (char *)(((uintptr_t)res + (1 << 16) - 1) & ~(uintptr_t)((1 << 16) - 1));
}

int main(int argc, char **argv) {
    const char *mode = argv[1];
    long pages = atol(argv[2]);
    const char *path = argc > 3 ? argv[3] : NULL;
    int file = !strcmp(mode, "file"), sysv = !strcmp(mode, "sysv");
    int shmid = -1;
    cpu_set_t set; CPU_ZERO(&set); CPU_SET(0, &set); sched_setaffinity(0, sizeof set, &set);
    long shmem0 = field_kb("/proc/meminfo", "Shmem");
    char *at = aligned_area(pages * P);
    char *a;
    if (file) {
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (ftruncate(fd, pages * P)) return 2;
        a = mmap(at, pages * P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
        close(fd);
    } else if (sysv) {
        shmid = shmget(IPC_PRIVATE, pages * P, 0600);
        a = shmat(shmid, at, SHM_REMAP);
        if (a == (void *)-1) return 3;
    } else {
        a = mmap(at, pages * P, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    }
    if (a == MAP_FAILED) return 3;
    int tochild[2], toparent[2];
    if (pipe(tochild) || pipe(toparent)) return 4;
    minflt();
    pid_t pid = fork();
    if (pid == 0) {
        char *c = a;
        if (file) {                             /* the second process maps it itself */
            munmap(a, pages * P);
            int fd = open(path, O_RDWR);
            c = mmap(at, pages * P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
            close(fd);
        }
        long f0 = minflt();
        for (long i = 0; i < pages; i++) c[i * P + 7] = (char)(i + 1);
        long df = minflt() - f0;
        fold_rss();
        long rss = field_kb("/proc/self/status", "RssShmem");
        long shm = field_kb("/proc/meminfo", "Shmem");
        long out[3] = {df, rss, shm};
        if (write(toparent[1], out, sizeof out) != sizeof out) _exit(5);
        char go;
        if (read(tochild[0], &go, 1) != 1) _exit(6);
        _exit(c[7] == 'Z' ? 0 : 7);              /* the parent's write is visible */
    }
    long out[3];
    if (read(toparent[0], out, sizeof out) != sizeof out) return 8;
    long f0 = minflt();
    int ok = 1;
    for (long i = 0; i < pages; i++) ok &= a[i * P + 7] == (char)(i + 1);
    long df = minflt() - f0;
    fold_rss();
    long rss = field_kb("/proc/self/status", "RssShmem");
    a[7] = 'Z';
    if (write(tochild[1], "g", 1) != 1) return 9;
    int st;
    waitpid(pid, &st, 0);
    ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (file) unlink(path);
    if (sysv) shmctl(shmid, IPC_RMID, NULL);
    printf("child_minflt=%ld child_rssshmem=%ld parent_minflt=%ld parent_rssshmem=%ld "
           "shmem_kb_delta=%ld ok=%d\n", out[0], out[1], df, rss, out[2] - shmem0, ok);
    return 0;
}
