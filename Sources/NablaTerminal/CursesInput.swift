import CNcursesw
import NablaTUI

/// Reads ncurses input and turns it into the app's `InputEvent`s.
enum CursesInput {
    /// The next input event ncurses has, or `nil` when there is none. `size` gives the
    /// screen's size for a `KEY_RESIZE`.
    static func next(size: () -> Size) -> InputEvent? {
        while true {
            var ch: wint_t = 0
            let r = wget_wch(nabla_stdscr(), &ch)
            if r == ERR { return nil }
            if r == KEY_CODE_YES {
                switch Int32(ch) {
                case KEY_RESIZE: return .resize(size())
                case KEY_MOUSE:
                    var event = MEVENT()
                    guard getmouse(&event) == OK else { continue }
                    if let mouse = MouseCodes.event(buttons: event.bstate, x: Int(event.x), y: Int(event.y)) {
                        return .mouse(mouse)
                    }
                    continue
                default:
                    if let key = KeyCodes.special(Int32(ch)) { return .key(key) }
                    continue
                }
            }
            if let key = KeyCodes.character(UInt32(ch)) { return .key(key) }
        }
    }
}

/// ncurses key codes to `Key`s.
enum KeyCodes {
    /// A function key ncurses decoded (`KEY_UP`, ...), or `nil` for keys the app has no use for.
    static func special(_ code: Int32) -> Key? {
        switch code {
        case KEY_UP: .up
        case KEY_DOWN: .down
        case KEY_LEFT: .left
        case KEY_RIGHT: .right
        case KEY_NPAGE: .pageDown
        case KEY_PPAGE: .pageUp
        case KEY_HOME: .home
        case KEY_END: .end
        case KEY_DC: .delete
        case KEY_BACKSPACE: .backspace
        case KEY_ENTER: .enter
        case KEY_BTAB: .tab
        default: nil
        }
    }

    /// A character (a Unicode scalar value, or a control code below 32).
    static func character(_ value: UInt32) -> Key? {
        switch value {
        case 27: return .escape
        case 13, 10: return .enter
        case 9: return .tab
        case 8, 127: return .backspace
        case 1...26: return .control(Character(Unicode.Scalar(UInt8(value) + 96)))
        default:
            guard value >= 32, let scalar = Unicode.Scalar(value) else { return nil }
            return .character(Character(scalar))
        }
    }
}

/// ncurses mouse events to `MouseEvent`s.
enum MouseCodes {
    /// The buttons the app asks ncurses to report.
    static var mask: mmask_t { nabla_button1_pressed() | nabla_button4_pressed() | nabla_button5_pressed() }

    /// The event for button state `buttons` at cell `x`, `y`: the wheel (buttons 4 and 5)
    /// or a press of button 1; `nil` for anything else.
    static func event(buttons: mmask_t, x: Int, y: Int) -> MouseEvent? {
        if buttons & nabla_button4_pressed() != 0 { return MouseEvent(.wheelUp, x: x, y: y) }
        if nabla_button5_pressed() != 0 && buttons & nabla_button5_pressed() != 0 { return MouseEvent(.wheelDown, x: x, y: y) }
        if buttons & nabla_button1_pressed() != 0 { return MouseEvent(.press, x: x, y: y) }
        return nil
    }
}
