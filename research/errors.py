"""Exceptions that carry a message meant for the person running the code."""


class ConfigError(ValueError):
  """A config key is unknown or its value is bad; the message names the key."""


class DataNotFoundError(FileNotFoundError):
  """No copy of a dataset was found; the message says where we looked."""


class DataError(ValueError):
  """A dataset's files are there but damaged or not what they should be (a
  truncated or wrong IDX file); the message names the file and the problem."""


class DivergedError(FloatingPointError):
  """The loss became NaN or Inf; the message names the step."""


def check_section_keys(section, defaults, prefix: str) -> None:
  """Raises ConfigError for a key that `section` has and `defaults` lacks (a
  typo), or the reverse (a config written before the key existed).

  `prefix` is the section's dotted name, e.g. 'optimizer.schedule' ('' for
  the whole config).
  """
  dotted = f'{prefix}.' if prefix else ''
  for key in section.keys():
    if key not in defaults:
      raise ConfigError(f'{dotted}{key}: unknown key; known: '
                        f'{", ".join(sorted(defaults.keys()))}')
  for key in defaults.keys():
    if key not in section:
      raise ConfigError(f'{dotted}{key}: missing from the config')
