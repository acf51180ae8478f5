// The two demanglers Swift cannot call directly: __cxa_demangle is C++-only API (no
// header Swift can import), and libswiftDemangle.so is a tool library that is not on the
// default library path, so it is opened with dlopen.
#define _GNU_SOURCE
#include "ember_demangle.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

extern char *__cxa_demangle(const char *mangled, char *buffer, size_t *length, int *status);

char *ember_demangle_cxx(const char *name) {
    int status = 0;
    char *result = __cxa_demangle(name, NULL, NULL, &status);
    if (status != 0) {
        free(result);
        return NULL;
    }
    return result;
}

typedef size_t (*GetDemangledName)(const char *, char *, size_t);
typedef char *(*RuntimeDemangle)(const char *, size_t, char *, size_t *, unsigned);

static GetDemangledName toolDemangle;
static RuntimeDemangle runtimeDemangle;
static pthread_once_t loadOnce = PTHREAD_ONCE_INIT;

static void loadSwiftDemangler(void) {
    const char *candidates[] = {
        "libswiftDemangle.so",
        "/opt/swift/usr/lib/libswiftDemangle.so",
        "/usr/lib/libswiftDemangle.so",
        NULL,
    };
    for (int i = 0; candidates[i] && !toolDemangle; i++) {
        void *handle = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
        if (handle) toolDemangle = (GetDemangledName)dlsym(handle, "swift_demangle_getDemangledName");
    }
    if (!toolDemangle) {
        // Next to the Swift runtime ember runs with: usr/lib/swift/linux/libswiftCore.so
        // → usr/lib/libswiftDemangle.so.
        Dl_info info;
        void *symbol = dlsym(RTLD_DEFAULT, "swift_demangle");
        if (symbol && dladdr(symbol, &info) && info.dli_fname) {
            char path[4096];
            strncpy(path, info.dli_fname, sizeof path - 64);
            path[sizeof path - 64] = 0;
            char *slash = strrchr(path, '/');
            if (slash) {
                strcpy(slash, "/../../libswiftDemangle.so");
                void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
                if (handle) toolDemangle = (GetDemangledName)dlsym(handle, "swift_demangle_getDemangledName");
            }
        }
        runtimeDemangle = (RuntimeDemangle)symbol;
    }
}

char *ember_demangle_swift(const char *name) {
    pthread_once(&loadOnce, loadSwiftDemangler);
    if (toolDemangle) {
        char small[1024];
        size_t length = toolDemangle(name, small, sizeof small);
        if (length == 0) return NULL;
        if (length < sizeof small) return strdup(small);
        char *big = malloc(length + 1);
        if (!big) return NULL;
        toolDemangle(name, big, length + 1);
        return big;
    }
    if (runtimeDemangle) return runtimeDemangle(name, strlen(name), NULL, NULL, 0);
    return NULL;
}
