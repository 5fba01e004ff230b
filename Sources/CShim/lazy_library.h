/* Libraries the shim loads at run time (dlopen) rather than at link time: libcurl and libpq with their dependency
 * trees (gssapi/krb5, ldap, nghttp2, ssh2, idn2, psl, ...) would cost every start ~6 ms in the dynamic linker before
 * main. Each library has one table of the functions the server calls (an X-macro list), one loader run once
 * (pthread_once) and, for each entry, a forwarder of the same name, hidden in this binary, that calls the loaded
 * function or answers a failure value when the library could not be loaded. Internal to the shim (not in include/). */
#ifndef NEO_LAZY_LIBRARY_H
#define NEO_LAZY_LIBRARY_H
#include <pthread.h>
#include <stddef.h>

struct cshim_lazy_library {
    const char *soname;  /* what dlopen is given (the Debian runtime package's soname) */
    const char *env;     /* the environment variable that names another file (operator's knob), or NULL */
    const char *purpose; /* for the message: what needs the library */
    pthread_once_t once;
    int loaded;          /* written by the loader; read after pthread_once returned */
    void *handle;
    char error[512];
};

#define CSHIM_LAZY_LIBRARY(soname, env, purpose) { soname, env, purpose, PTHREAD_ONCE_INIT, 0, NULL, "" }

/* dlopen(RTLD_LAZY | RTLD_LOCAL) of the library, or of the file its variable names: functions are bound at their first
 * call, as a linked library's are (RTLD_NOW would bind the whole tree's up front). 0 with `error` filled in (naming
 * the library and dlerror()) when it fails. */
int cshim_lazy_open(struct cshim_lazy_library *lib);
/* dlsym of `name` into the function pointer at `slot` (`size` bytes); 0 with `error` filled in when it is missing. */
int cshim_lazy_symbol(struct cshim_lazy_library *lib, const char *name, void *slot, size_t size);
/* Marks the load failed with a message of its own (printf-style), after the library itself opened. */
void cshim_lazy_fail(struct cshim_lazy_library *lib, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* The table's pieces. An entry is F(return type, name, (parameters), (arguments), value when not loaded), V(void,
 * name, (parameters), (arguments)) for a function returning nothing, or P(return type, name, (parameters)) for one only
 * this shim calls through its pointer (the variadic ones, which Swift cannot call anyway). `table` is the struct of
 * pointers, `ready` the function that loads the library once and says whether it is there. */
#define CSHIM_SLOT(ret, name, params, ...) ret (*p_##name) params;
#define CSHIM_RESOLVE(lib, table, name) \
    if (!cshim_lazy_symbol(&(lib), #name, &(table).p_##name, sizeof (table).p_##name)) return;
#define CSHIM_FORWARD(ready, table, ret, name, params, args, missing) \
    __attribute__((visibility("hidden"))) ret name params { return ready() ? (table).p_##name args : (missing); }
#define CSHIM_FORWARD_VOID(ready, table, name, params, args) \
    __attribute__((visibility("hidden"))) void name params { if (ready()) (table).p_##name args; }
#define CSHIM_NO_FORWARD(...)
#endif
