# saspy's configuration (staged in HOME_TMP as ~/.config/saspy/sascfg_personal.py):
# the SAS kernel and saspy start the SAS installed in this image, locally, in UTF-8.
SAS_config_names = ["default"]

SAS_config_options = {
    "lock_down": False,
    "verbose": False,
}

default = {
    "saspath": "/usr/local/SASHome/SASFoundation/9.4/bin/sas_u8",
    "encoding": "utf-8",
}
