import NablaCore
