#ifndef NABLA_CNCURSESW_SHIM_H
#define NABLA_CNCURSESW_SHIM_H
// Wide-character ncurses for Swift. Swift cannot import function-like macros, so the
// few nabla needs are wrapped in static inline functions here.
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <locale.h>
#include <langinfo.h>
#include <signal.h>
#include <wchar.h>
#include <sys/ioctl.h>
#include <ncursesw/curses.h>
#include <ncursesw/term.h>

// Globals Swift 6 will not read without an unsafe annotation: the screen on the
// process's stdin/stdout, and the standard and current windows (main thread only).
static inline SCREEN *nabla_newterm(void) { return newterm(NULL, stdout, stdin); }
/// A screen for terminal type `type` on stdin/stdout; NULL when ncurses has no terminfo
/// for it or cannot start.
static inline SCREEN *nabla_newterm_type(const char *type) { return newterm(type, stdout, stdin); }
/// The `colors` terminfo number of terminal type `type`, read without starting a screen
/// and without output; -1 when terminfo has no such type.
static inline int nabla_terminfo_colors(const char *type) {
    int err = 0;
    TERMINAL *saved = cur_term;
    if (setupterm(type, 1, &err) != OK) { set_curterm(saved); return -1; }
    int colors = tigetnum("colors");
    TERMINAL *probe = cur_term;
    set_curterm(saved);
    del_curterm(probe);
    return colors;
}
static inline WINDOW *nabla_stdscr(void) { return stdscr; }
/// Whether the current terminal can move the cursor (has `cup`); `dumb` cannot.
static inline int nabla_can_address_cursor(void) {
    const char *cup = tigetstr("cup");
    return cup != NULL && cup != (const char *)-1;
}
static inline WINDOW *nabla_curscr(void) { return curscr; }
/// A terminfo string capability of the current terminal, or NULL when it has none.
static inline const char *nabla_tigetstr(const char *name) {
    const char *s = tigetstr(name);
    return (s == NULL || s == (const char *)-1) ? NULL : s;
}

// Real-time signals: SIGRTMIN and SIGRTMAX are function calls in glibc.
#ifdef SIGRTMIN
static inline int nabla_sigrtmin(void) { return SIGRTMIN; }
static inline int nabla_sigrtmax(void) { return SIGRTMAX; }
#endif

// Colour: COLORS and COLOR_PAIRS are macros in reentrant builds; COLOR_PAIR is a macro.
static inline int nabla_colors(void) { return COLORS; }
static inline int nabla_color_pairs(void) { return COLOR_PAIRS; }
static inline attr_t nabla_color_pair(int n) { return (attr_t)COLOR_PAIR(n); }

// Attributes.
static inline attr_t nabla_a_normal(void) { return (attr_t)A_NORMAL; }
static inline attr_t nabla_a_bold(void) { return (attr_t)A_BOLD; }
static inline attr_t nabla_a_dim(void) { return (attr_t)A_DIM; }
static inline attr_t nabla_a_reverse(void) { return (attr_t)A_REVERSE; }
static inline attr_t nabla_a_underline(void) { return (attr_t)A_UNDERLINE; }

// Window size.
static inline void nabla_getmaxyx(WINDOW *win, int *rows, int *cols) {
    int y, x;
    getmaxyx(win, y, x);
    *rows = y;
    *cols = x;
}

// The terminal's size as the kernel knows it (after SIGWINCH); 0 when unknown.
static inline int nabla_terminal_size(int fd, int *rows, int *cols) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0 || ws.ws_col == 0) return -1;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return 0;
}

// Mouse masks.
static inline mmask_t nabla_button1_pressed(void) { return BUTTON1_PRESSED; }
static inline mmask_t nabla_button1_clicked(void) { return BUTTON1_CLICKED; }
static inline mmask_t nabla_button4_pressed(void) { return BUTTON4_PRESSED; }
#if NCURSES_MOUSE_VERSION > 1
static inline mmask_t nabla_button5_pressed(void) { return BUTTON5_PRESSED; }
#else
static inline mmask_t nabla_button5_pressed(void) { return 0; }
#endif

#endif
