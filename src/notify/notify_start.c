/* Placeholder notification service until it lands. */
#include "app/services.h"
int armor_notify_start(void) { return 0; }
void armor_notify_stop(void) {}
