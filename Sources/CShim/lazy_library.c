#include "lazy_library.h"
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cshim_lazy_open(struct cshim_lazy_library *lib) {
    const char *override = lib->env ? secure_getenv(lib->env) : NULL;
    const char *file = override && *override ? override : lib->soname;
    lib->handle = dlopen(file, RTLD_LAZY | RTLD_LOCAL);
    if (lib->handle) return 1;
    const char *why = dlerror();
    if (override && *override)
        snprintf(lib->error, sizeof lib->error, "cannot load %s (%s=%s), which %s needs: %s", lib->soname, lib->env,
                 file, lib->purpose, why ? why : "unknown error");
    else
        snprintf(lib->error, sizeof lib->error, "cannot load %s, which %s needs: %s", lib->soname, lib->purpose,
                 why ? why : "unknown error");
    return 0;
}

int cshim_lazy_symbol(struct cshim_lazy_library *lib, const char *name, void *slot, size_t size) {
    (void)dlerror();
    void *symbol = dlsym(lib->handle, name);
    if (!symbol || size != sizeof symbol) {
        const char *why = dlerror();
        cshim_lazy_fail(lib, "%s has no %s: %s", lib->soname, name, why ? why : "not a function");
        return 0;
    }
    memcpy(slot, &symbol, size);
    return 1;
}

void cshim_lazy_fail(struct cshim_lazy_library *lib, const char *format, ...) {
    char detail[400];
    va_list ap;
    va_start(ap, format);
    vsnprintf(detail, sizeof detail, format, ap);
    va_end(ap);
    snprintf(lib->error, sizeof lib->error, "cannot load %s, which %s needs: %s", lib->soname, lib->purpose, detail);
    if (lib->handle) dlclose(lib->handle);
    lib->handle = NULL;
}
