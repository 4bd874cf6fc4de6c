/* Allocates and touches memory until it runs out (malloc's NULL is not checked, as in much contest code). */
#include <stdlib.h>
#include <string.h>

int main(void) {
  for (;;) {
    char *p = malloc(1 << 20);
    memset(p, 1, 1 << 20);
  }
}
