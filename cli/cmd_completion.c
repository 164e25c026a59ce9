/* cmd_completion.c: `fpq completion bash|zsh|fish` prints a shell's completion script.
 *
 * The scripts hold no list of commands or options: on each TAB they ask fpq itself
 * (`fpq completion --complete -- WORD... CURRENT`), which answers from the help table
 * (help.c), the one the help texts and the Typer CLI are made from, so completion cannot
 * drift from the commands. What it completes: commands and a group's commands, a
 * command's options and the common ones, the values of options that take one of a few
 * words, PIPELINE from the project's conf/pipelines, and the choices a usage line spells
 * as a|b|c. An answer is one candidate per line, already matched to CURRENT; the line
 * ":dir" asks the shell to complete a directory itself. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "help.h"

/* Options whose value is one of a few words. Each word appears in the option's help
 * (tests/python/test_completion.py checks it), so a new one cannot be missed here. */
static const struct {
  const char *flag;
  const char *words[4];
} option_words[] = {
    {"--priority", {"high", "medium", "low", NULL}},
    {"--isolation", {"fork", "none", NULL}},
    {"--backend", {"sqlite", "rq", NULL}},
};

static void put_match(const char *word, size_t wlen, const char *current) {
  size_t clen = strlen(current);
  if (wlen >= clen && strncmp(word, current, clen) == 0) printf("%.*s\n", (int)wlen, word);
}

static void put_word(const char *word, const char *current) {
  put_match(word, strlen(word), current);
}

/* The option of command h called flag (a common one too), or NULL. */
static const cli_help_option *find_option(const cli_help *h, const char *flag) {
  for (const cli_help_option *o = h ? h->options : NULL; o && o->flag; o++)
    if (strcmp(o->flag, flag) == 0 || (o->alias && strcmp(o->alias, flag) == 0)) return o;
  for (const cli_help_option *o = h && h->common ? cli_help_common() : NULL; o && o->flag; o++)
    if (strcmp(o->flag, flag) == 0 || (o->alias && strcmp(o->alias, flag) == 0)) return o;
  return NULL;
}

/* The last word of a command: "start" for "worker start". */
static const char *last_word(const char *command) {
  const char *space = strrchr(command, ' ');
  return space ? space + 1 : command;
}

/* The entry for `group` plus `word` when it is one of its commands, else NULL. */
static const cli_help *member(const char *group, const char *word) {
  char name[64];
  if (group[0]) snprintf(name, sizeof name, "%s %s", group, word);
  else snprintf(name, sizeof name, "%s", word);
  const cli_help *h = cli_help_find(name);
  return h && cli_help_in_group(h, group) ? h : NULL;
}

static int is_group(const cli_help *h) {
  size_t n;
  const cli_help *all = cli_help_all(&n);
  for (size_t i = 0; i < n; i++)
    if (cli_help_in_group(&all[i], h->command)) return 1;
  return 0;
}

/* The pipelines of the project: conf/pipelines/NAME.yml. */
static void put_pipelines(const char *project, const char *current) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/conf/pipelines", project ? project : ".");
  DIR *d = opendir(dir);
  if (d == NULL) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (e->d_name[0] != '.' && len > 4 && strcmp(e->d_name + len - 4, ".yml") == 0)
      put_match(e->d_name, len - 4, current);
  }
  closedir(d);
}

/* The first argument a usage line names after the command, when it is a|b|c: "bash|zsh|fish"
 * in "fpq completion bash|zsh|fish". */
static void put_usage_choices(const cli_help *h, const char *current) {
  const char *p = h->usage + strlen("fpq ") + strlen(h->command);
  while (*p == ' ') p++;
  size_t len = strcspn(p, " ");
  if (memchr(p, '|', len) == NULL) return;
  for (size_t i = 0; i < len; i++)
    if (!(p[i] == '|' || (p[i] >= 'a' && p[i] <= 'z'))) return;
  while (len > 0) {
    size_t word = strcspn(p, "| ");
    if (word > len) word = len;
    put_match(p, word, current);
    p += word + (word < len);
    len -= word + (word < len);
  }
}

/* words: what was typed after "fpq" before the cursor; current: the word at it. */
static int complete(int n, char **words, const char *current) {
  const cli_help *h = cli_help_find(""); /* the command typed so far */
  const char *project = NULL;
  const cli_help_option *value_of = NULL; /* the word at the cursor is this option's value */
  int arguments = 0;                      /* positional arguments after the command */
  for (int i = 0; i < n; i++) {
    const char *w = words[i];
    if (value_of) {
      if (strcmp(value_of->flag, "--project") == 0) project = w;
      value_of = NULL;
    } else if (w[0] == '-') {
      const cli_help_option *o = strchr(w, '=') ? NULL : find_option(h, w);
      if (o && o->metavar) value_of = o;
    } else if (h->command[0] == '\0' || is_group(h)) {
      const cli_help *next = member(h->command, w);
      if (next == NULL) return 0; /* not a command: nothing to offer */
      h = next;
    } else {
      arguments++;
    }
  }
  if (value_of) {
    if (strcmp(value_of->flag, "--project") == 0) puts(":dir");
    for (size_t i = 0; i < sizeof option_words / sizeof option_words[0]; i++)
      if (strcmp(option_words[i].flag, value_of->flag) == 0)
        for (const char *const *word = option_words[i].words; *word; word++)
          put_word(*word, current);
    return 0;
  }
  if (current[0] == '-') {
    if (h->command[0] == '\0') {
      put_word("--help", current);
      put_word("--version", current);
      return 0;
    }
    for (const cli_help_option *o = h->options; o && o->flag; o++) put_word(o->flag, current);
    for (const cli_help_option *o = h->common ? cli_help_common() : NULL; o && o->flag; o++)
      put_word(o->flag, current);
    if (!h->common) put_word("--help", current);
    return 0;
  }
  if (h->command[0] == '\0' || is_group(h)) {
    size_t count;
    const cli_help *all = cli_help_all(&count);
    for (size_t i = 0; i < count; i++)
      if (cli_help_in_group(&all[i], h->command)) put_word(last_word(all[i].command), current);
    return 0;
  }
  if (arguments == 0) {
    if (strstr(h->usage, "PIPELINE")) put_pipelines(project, current);
    put_usage_choices(h, current);
  }
  return 0;
}

static const char bash_script[] =
    "# fpq's completion for bash. Load it from ~/.bashrc with:\n"
    "#   eval \"$(fpq completion bash)\"\n"
    "# or save it as ~/.local/share/bash-completion/completions/fpq. The candidates come\n"
    "# from fpq itself (fpq completion --complete), so they match the fpq you run.\n"
    "_fpq_completion() {\n"
    "  local fpq=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} line\n"
    "  [[ $fpq == \"~/\"* ]] && fpq=$HOME/${fpq#\"~/\"}\n"
    "  COMPREPLY=()\n"
    "  while IFS= read -r line; do\n"
    "    case $line in\n"
    "      :dir) compopt -o filenames 2>/dev/null\n"
    "            while IFS= read -r line; do COMPREPLY+=(\"$line\"); done \\\n"
    "              < <(compgen -d -- \"$cur\") ;;\n"
    "      ?*) COMPREPLY+=(\"$line\") ;;\n"
    "    esac\n"
    "  done < <(\"$fpq\" completion --complete -- \"${COMP_WORDS[@]:1:COMP_CWORD-1}\" \"$cur\" \\\n"
    "             2>/dev/null)\n"
    "}\n"
    "complete -F _fpq_completion fpq\n";

static const char zsh_script[] =
    "#compdef fpq\n"
    "# fpq's completion for zsh. Save it as _fpq in a directory of $fpath:\n"
    "#   fpq completion zsh > \"${fpath[1]}/_fpq\"\n"
    "# or, after compinit in ~/.zshrc: eval \"$(fpq completion zsh)\". The candidates come\n"
    "# from fpq itself (fpq completion --complete), so they match the fpq you run.\n"
    "_fpq() {\n"
    "  local line\n"
    "  local -a candidates\n"
    "  for line in \"${(@f)$(${words[1]} completion --complete -- \"${(@)words[2,CURRENT-1]}\" \\\n"
    "                   \"${words[CURRENT]}\" 2>/dev/null)}\"; do\n"
    "    case $line in\n"
    "      :dir) _path_files -/ ;;\n"
    "      ?*) candidates+=(\"$line\") ;;\n"
    "    esac\n"
    "  done\n"
    "  (( ${#candidates} )) && compadd -- \"${candidates[@]}\"\n"
    "  return 0\n"
    "}\n"
    "if [[ ${funcstack[1]} == _fpq ]]; then\n"
    "  _fpq \"$@\"\n"
    "else\n"
    "  compdef _fpq fpq\n"
    "fi\n";

static const char fish_script[] =
    "# fpq's completion for fish. Save it with:\n"
    "#   fpq completion fish > ~/.config/fish/completions/fpq.fish\n"
    "# The candidates come from fpq itself (fpq completion --complete), so they match the\n"
    "# fpq you run.\n"
    "function __fpq_complete\n"
    "    set -l tokens (commandline -opc)\n"
    "    set -l current (commandline -ct)\n"
    "    set -l fpq $tokens[1]\n"
    "    set -e tokens[1]\n"
    "    for line in ($fpq completion --complete -- $tokens $current 2>/dev/null)\n"
    "        switch $line\n"
    "            case :dir\n"
    "                __fish_complete_directories $current\n"
    "            case '?*'\n"
    "                echo $line\n"
    "        end\n"
    "    end\n"
    "end\n"
    "complete -c fpq -f -a '(__fpq_complete)'\n";

int cmd_completion(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "--complete") == 0 && strcmp(argv[2], "--") == 0) {
    /* argv[3..argc-2]: the words before the cursor; argv[argc-1]: the word at it. */
    if (argc == 3) return complete(0, NULL, "");
    return complete(argc - 4, argv + 3, argv[argc - 1]);
  }
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    cli_print_help(stdout, "completion");
    return EXIT_DONE;
  }
  if (argc != 2)
    return cli_usage_error("completion", "expected one shell: bash, zsh or fish");
  const char *script = strcmp(argv[1], "bash") == 0  ? bash_script
                       : strcmp(argv[1], "zsh") == 0 ? zsh_script
                       : strcmp(argv[1], "fish") == 0 ? fish_script
                                                      : NULL;
  if (script == NULL)
    return cli_usage_error("completion", "'%s' is not a shell this knows: bash, zsh or fish",
                           argv[1]);
  fputs(script, stdout);
  return EXIT_DONE;
}
