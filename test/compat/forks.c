/* Forks until fork fails (children wait), then prints how many it got. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
  int n = 0;
  for (int i = 0; i < 10000; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      pause();
      _exit(0);
    }
    if (pid > 0) n++;
  }
  printf("%d\n", n);
  return 0;
}
