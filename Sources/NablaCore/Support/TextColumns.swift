/// `s` right-aligned in a column `width` characters wide (as is when longer): the
/// commands' text tables.
func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}
