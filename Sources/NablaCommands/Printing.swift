import Foundation
import NablaCore

/// stdout of every command: `Swift.print` after `Shown.text`, so no control character
/// from a file name, key or message reaches the terminal raw (the app draws through
/// curses and does not print). Declared in this module, it is the `print` the commands
/// call.
func print(_ text: String) {
    Swift.print(Shown.text(text))
}

/// One warning line on stderr (`warning: ...`), escaped like everything printed.
func warn(_ message: String) {
    FileHandle.standardError.write(Data(("warning: " + Shown.path(message) + "\n").utf8))
}
