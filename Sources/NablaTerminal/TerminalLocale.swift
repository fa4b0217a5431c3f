import CNcursesw
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The locale the terminal is driven in.
public enum TerminalLocale {
    /// Sets the program's locale from the environment (`setlocale(LC_ALL, "")`, which
    /// ncurses needs for wide characters) and returns whether its codeset is UTF-8;
    /// when it is not, nabla draws with ASCII only.
    public static func prepare() -> Bool {
        setlocale(LC_ALL, "")
        guard let codeset = nl_langinfo(nl_item(CODESET)) else { return false }
        let name = String(cString: codeset).uppercased().filter { $0 != "-" && $0 != "_" }
        return name == "UTF8"
    }
}
