/* Placeholder start/stop and command of the accounts service until it lands. */
#include "app/services.h"
#include <stdio.h>
int armor_accounts_start(void) { return 0; }
void armor_accounts_stop(void) {}
int armor_cmd_admin(int argc, char **argv) {
  fprintf(stderr, "armor admin: not available in this build\n");
  return 2;
}
