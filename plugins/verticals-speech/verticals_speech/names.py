"""Names shared by the plugin's modules, kept apart so importing the plugin stays light."""

MODEL_NAME = "speech/transcribe"
CONFIG_TABLE = f'[models."{MODEL_NAME}"]'
