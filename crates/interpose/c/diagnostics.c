/* glibc's error() and err() families for bead code.
 *
 * glibc's own versions print the *process's* program name (here: the
 * runtime's path) and, when asked to stop, call glibc's exit(), which ended
 * the whole tapestry. These print the calling string's program name and
 * end only the string, through the runtime's exit. They are written in C
 * because they take variable arguments. Output follows glibc's format:
 *
 *   error(3, ENOENT, "cannot open %s", f)  ->  "./prog: cannot open f: No such file or directory"
 *   err(5, "denied %s", y)                ->  "prog: denied y: <strerror(errno)>"
 *   warnx("plain %s", z)                  ->  "prog: plain z"
 *
 * Each message is written under the stream's lock, as glibc's are: the
 * pieces of one message never interleave with another string's output.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The calling string's argv[0] (short: its last path component). */
extern const char *weaves_program_name(int short_name);
/* Ends the calling string with `status`, as exit() from bead code does. */
extern void weaves_string_exit(int status) __attribute__((noreturn));

extern unsigned int error_message_count;

/* Ends a message that its caller began under flockfile(stderr). */
static void error_tail(int status, int errnum, const char *format, va_list ap) {
    vfprintf(stderr, format, ap);
    ++error_message_count;
    if (errnum)
        fprintf(stderr, ": %s", strerror(errnum));
    putc('\n', stderr);
    fflush(stderr);
    funlockfile(stderr);
    if (status)
        weaves_string_exit(status);
}

void weaves_error(int status, int errnum, const char *format, ...) {
    va_list ap;
    fflush(stdout);
    flockfile(stderr);
    fprintf(stderr, "%s: ", weaves_program_name(0));
    va_start(ap, format);
    error_tail(status, errnum, format, ap);
    va_end(ap);
}

void weaves_error_at_line(int status, int errnum, const char *file, unsigned int line,
                          const char *format, ...) {
    va_list ap;
    fflush(stdout);
    flockfile(stderr);
    fprintf(stderr, "%s:", weaves_program_name(0));
    if (file)
        fprintf(stderr, "%s:%u: ", file, line);
    else
        putc(' ', stderr);
    va_start(ap, format);
    error_tail(status, errnum, format, ap);
    va_end(ap);
}

void weaves_vwarn(const char *format, va_list ap) {
    int saved = errno;
    flockfile(stderr);
    fprintf(stderr, "%s: ", weaves_program_name(1));
    if (format) {
        vfprintf(stderr, format, ap);
        fputs(": ", stderr);
    }
    fprintf(stderr, "%s\n", strerror(saved));
    funlockfile(stderr);
}

void weaves_vwarnx(const char *format, va_list ap) {
    flockfile(stderr);
    fprintf(stderr, "%s: ", weaves_program_name(1));
    if (format)
        vfprintf(stderr, format, ap);
    putc('\n', stderr);
    funlockfile(stderr);
}

void weaves_warn(const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    weaves_vwarn(format, ap);
    va_end(ap);
}

void weaves_warnx(const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    weaves_vwarnx(format, ap);
    va_end(ap);
}

void weaves_verr(int status, const char *format, va_list ap) {
    weaves_vwarn(format, ap);
    weaves_string_exit(status);
}

void weaves_verrx(int status, const char *format, va_list ap) {
    weaves_vwarnx(format, ap);
    weaves_string_exit(status);
}

void weaves_err(int status, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    weaves_verr(status, format, ap);
}

void weaves_errx(int status, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    weaves_verrx(status, format, ap);
}
