/*
 * Service start-up and shut-down in dependency order, and the CLI commands
 * that services contribute. main.c calls these; nothing else does.
 */
#ifndef ARMOR_APP_H
#define ARMOR_APP_H

/* After the store is open and migrated: starts every service. 0 or -1 (one line printed). */
int armor_app_start(void);
/* Stops background work; called after HTTP has drained. */
void armor_app_stop(void);

/* A subcommand of the armor binary beyond serve/migrate/version. */
struct armor_command {
  const char *name;  /* "admin", "client", "keys" */
  const char *help;  /* one line */
  int (*run)(int argc, char **argv); /* argv[0] is the subcommand name; returns the exit code */
};
/* Terminated by name NULL. */
extern const struct armor_command armor_commands[];

/* Opens the store named by the loaded configuration and migrates it; prints one line on failure. 0 or -1. */
int armor_app_open_store(void);

#endif
