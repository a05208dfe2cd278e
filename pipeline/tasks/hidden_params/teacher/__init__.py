"""Teachers write the player's request for a sampled target (the generate stage).

A teacher sees the six hidden parameters and writes what a player might type;
the pair (request, target) becomes training data. ``base`` says what a teacher
is; the template teacher, the offline default, is ``template`` with one writer
per language (``english``, ``japanese``) over the phrase banks and shared
material of ``banks``. Its words are package data in ../data/teacher_*.txt.
The Mistral teacher (``mistral``, imported on use) and the name -> teacher
lookup (``lookup``) live here too.
"""

from pipeline.tasks.hidden_params.teacher.base import LANGUAGES, Teacher, TeacherBatch, TeacherOutput
from pipeline.tasks.hidden_params.teacher.lookup import get_teacher, teacher_names
from pipeline.tasks.hidden_params.teacher.template import TemplateTeacher

__all__ = ["LANGUAGES", "Teacher", "TeacherBatch", "TeacherOutput", "TemplateTeacher", "get_teacher", "teacher_names"]
