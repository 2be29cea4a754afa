/* Start a program stopped at its first user instruction (PTRACE_TRACEME, then execve
   under personality(ADDR_NO_RANDOMIZE), as setarch -R does) and print its
   /proc/PID/maps and /proc/PID/auxv (one hex word a line): tests/test_live_exec.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <sys/personality.h>
static void dump(const char *path, int binary) {
    char buf[65536]; FILE *f = fopen(path, "r"); size_t n;
    if (!f) { printf("ERR %s\n", path); return; }
    n = fread(buf, 1, sizeof buf, f); fclose(f);
    if (!binary) { fwrite(buf, 1, n, stdout); return; }
    for (size_t i = 0; i + 8 <= n; i += 8) { unsigned long v; memcpy(&v, buf + i, 8); printf("%lx\n", v); }
}
int main(int argc, char **argv) {
    char *envp[] = { "A=1", NULL };
    personality(ADDR_NO_RANDOMIZE);
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        execve(argv[1], argv + 2, envp);
        _exit(127);
    }
    int st; waitpid(pid, &st, 0);
    if (!WIFSTOPPED(st)) { printf("NOSTOP\n"); return 1; }
    char p[64];
    printf("== maps\n"); snprintf(p, sizeof p, "/proc/%d/maps", pid); dump(p, 0);
    printf("== auxv\n"); snprintf(p, sizeof p, "/proc/%d/auxv", pid); dump(p, 1);
    printf("== end\n");
    kill(pid, SIGKILL); waitpid(pid, &st, 0);
    return 0;
}
