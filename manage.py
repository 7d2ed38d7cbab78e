#!/usr/bin/env python
import sys

if __name__ == "__main__":
    from config.entry_points import require_settings_module

    require_settings_module()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
