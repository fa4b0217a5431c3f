// The nabla executable: the commands live in NablaCommands (parsed and tested in-process
// there); this file only runs them.
import NablaCommands

Nabla.main()
