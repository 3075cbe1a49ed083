"""The example's own checks: run with the built extension importable."""
import tally


def test_by_type():
    assert tally.by_type([1, 2, "a", 3.0, None, 4]) == {"int": 3, "str": 1, "float": 1,
                                                       "NoneType": 1}
    assert tally.by_type(iter(())) == {}


def test_most_common():
    assert tally.most_common({"int": 3, "str": 1}) == "int"


def test_errors():
    for call, arg, exc in ((tally.by_type, 5, TypeError),
                           (tally.most_common, [], TypeError),
                           (tally.most_common, {}, tally.TallyError),
                           (tally.most_common, {"x": "y"}, TypeError)):
        try:
            call(arg)
        except exc:
            continue
        raise AssertionError("%s(%r) did not raise %s" % (call.__name__, arg, exc.__name__))


if __name__ == "__main__":
    for name, fn in sorted(globals().items()):
        if name.startswith("test_"):
            fn()
    print("tally: all checks passed")
