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
#include <ncursesw/curses.h>

#endif
