import CNcursesw
import NablaTUI
