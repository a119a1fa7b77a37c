"""Exceptions that carry a message meant for the person running the code."""


class ConfigError(ValueError):
  """A config key is unknown or its value is bad; the message names the key."""


class DataNotFoundError(FileNotFoundError):
  """No copy of a dataset was found; the message says where we looked."""


class DivergedError(FloatingPointError):
  """The loss became NaN or Inf; the message names the step."""
