/* Placeholder key service until it lands. */
#include "app/services.h"
#include "auth/tokens.h"
#include <stdio.h>
int armor_keys_start(void) { return 0; }
void armor_keys_stop(void) {}
int armor_cmd_keys(int argc, char **argv) {
  fprintf(stderr, "armor keys: not available in this build\n");
  return 2;
}
