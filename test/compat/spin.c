/* Never finishes: a time limit must end it. */
int main(void) {
  volatile unsigned long n = 0;
  for (;;) n++;
}
