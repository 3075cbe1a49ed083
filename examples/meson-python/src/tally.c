/*
 * tally -- count the items of an iterable by type name (legacy C API).
 *
 * The sources of the meson-python example: `pyctx migrate --write src`
 * rewrites them to the context API.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *TallyError;

/* Add one to counts[key]. */
static int
bump(PyObject *counts, PyObject *key)
{
    PyObject *old = PyDict_GetItemWithError(counts, key);
    long n = 0;
    if (old == NULL && PyErr_Occurred()) {
        return -1;
    }
    if (old != NULL) {
        n = PyLong_AsLong(old);
        if (n == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    PyObject *value = PyLong_FromLong(n + 1);
    if (value == NULL) {
        return -1;
    }
    int rc = PyDict_SetItem(counts, key, value);
    Py_DECREF(value);
    return rc;
}

/* tally.by_type(iterable) -> {type name: count} */
static PyObject *
by_type(PyObject *module, PyObject *iterable)
{
    PyObject *it = PyObject_GetIter(iterable);
    if (it == NULL) {
        return NULL;
    }
    PyObject *counts = PyDict_New();
    if (counts == NULL) {
        Py_DECREF(it);
        return NULL;
    }
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        PyObject *name = PyUnicode_FromString(Py_TYPE(item)->tp_name);
        Py_DECREF(item);
        if (name == NULL || bump(counts, name) < 0) {
            Py_XDECREF(name);
            goto error;
        }
        Py_DECREF(name);
    }
    if (PyErr_Occurred()) {
        goto error;
    }
    Py_DECREF(it);
    return counts;
error:
    Py_DECREF(it);
    Py_DECREF(counts);
    return NULL;
}

/* tally.most_common(counts) -> the key with the largest count */
static PyObject *
most_common(PyObject *module, PyObject *counts)
{
    if (!PyDict_Check(counts)) {
        PyErr_Format(PyExc_TypeError, "expected a dict, got %.100s",
                     Py_TYPE(counts)->tp_name);
        return NULL;
    }
    PyObject *key, *value, *best = NULL;
    Py_ssize_t pos = 0;
    long best_n = -1;
    while (PyDict_Next(counts, &pos, &key, &value)) {
        long n = PyLong_AsLong(value);
        if (n == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (n > best_n) {
            best_n = n;
            best = key;
        }
    }
    if (best == NULL) {
        PyErr_SetString(TallyError, "no counts");
        return NULL;
    }
    Py_INCREF(best);
    return best;
}

static PyMethodDef tally_methods[] = {
    {"by_type", by_type, METH_O, "Count the items of an iterable by type name."},
    {"most_common", most_common, METH_O, "The key with the largest count."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef tally_module = {
    PyModuleDef_HEAD_INIT, "tally", NULL, -1, tally_methods,
};

PyMODINIT_FUNC
PyInit_tally(void)
{
    PyObject *m = PyModule_Create(&tally_module);
    if (m == NULL) {
        return NULL;
    }
    TallyError = PyErr_NewException("tally.TallyError", NULL, NULL);
    if (TallyError == NULL || PyModule_AddObject(m, "TallyError", TallyError) < 0) {
        Py_XDECREF(TallyError);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(TallyError);
    return m;
}
