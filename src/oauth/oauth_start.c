/* Placeholder OAuth service until it lands. */
#include "app/services.h"
#include <stdio.h>
int armor_oauth_start(void) { return 0; }
void armor_oauth_stop(void) {}
int armor_cmd_client(int argc, char **argv) {
  fprintf(stderr, "armor client: not available in this build\n");
  return 2;
}
