#ifndef EMBER_DEMANGLE_H
#define EMBER_DEMANGLE_H
#include <stddef.h>

/// Demangles an Itanium C++ name with libstdc++'s __cxa_demangle.
/// Returns a malloc'd string (free it), or NULL if `name` is not a valid mangled name.
char *ember_demangle_cxx(const char *name);

/// Demangles a Swift name with the toolchain's libswiftDemangle.so (loaded on first use),
/// falling back to the Swift runtime's swift_demangle. Returns a malloc'd string or NULL.
char *ember_demangle_swift(const char *name);

#endif
