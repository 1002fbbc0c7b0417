"""The chapter's wordings, as data: ten paraphrases of the urn story (the first three are the
chapter's original ones), the menus people saw, and the number format of the listener's answers.

Each paraphrase tells the same design in other words (container, narrator, person, register),
in fields that `inputs` assembles:
- speaker side: `setting` + `evidence` (with {drawn}, {seen}; `drawn_all` or `drawn_some`
  with {a}) + `then` + [the menu] + `ask`; raw text ends in the `speaker` lead-in. `hidden`
  replaces `evidence` in the content-free context of the PMI reading (the speaker saw some
  balls, the text does not say which), and `belief` asks the speaker's belief about the urn
  (experiment 0) right after the evidence.
- listener side: `listener` (with the quoted {sentence}) followed by `urn_question` (the
  filler trials: how many of the 10 balls are red) or `access_question` (the critical trials:
  how many balls the speaker drew).
Every message sentence speaks of "the next ball", so every paraphrase keeps balls.
"""
from __future__ import annotations

FIELDS = ("name", "setting", "evidence", "hidden", "drawn_all", "drawn_some", "then", "ask", "speaker",
          "belief", "listener", "urn_question", "access_question")

ROWS = [
    ("urn",
     "There is an urn with 10 balls in it; each ball is either red or blue.",
     "You draw {drawn} from the urn and see that {seen}.",
     "You draw some of the balls from the urn and look at them.",
     "all 10 balls", "{a} balls at random",
     "You put them back and mix the urn. Now a new ball will be drawn, and your friend, who has not "
     "seen anything, asks you whether it will be red.",
     "What do you answer? Reply with one sentence.", "You answer:",
     "How many of the 10 balls in the urn do you think are red?",
     "There is an urn with 10 balls in it; each ball is either red or blue. Your friend drew some of "
     "the balls, looked at them and put them back. About the next ball to be drawn, your friend tells "
     "you: \"{sentence}\"",
     "How many of the 10 balls in the urn do you think are red?",
     "How many of the 10 balls do you think your friend drew and looked at?"),
    ("game",
     "Anna plays a game with a box of ten balls, some red and some blue.",
     "She takes out {drawn} and finds that {seen}.",
     "She takes out some of the balls and looks at them.",
     "all ten balls", "{a} balls without looking",
     "She puts them back and shakes the box. One more ball will now be picked from the box, and her "
     "brother asks her whether it will be red.",
     "What does Anna tell her brother? Give her answer as one sentence.", "Anna says:",
     "How many of the ten balls in the box does Anna think are red?",
     "Anna plays a game with a box of ten balls, some red and some blue. She has taken out some of the "
     "balls, looked at them and put them back. About the next ball to be picked, she tells her "
     "brother: \"{sentence}\"",
     "How many of the ten balls in the box are red, do you think?",
     "How many of the ten balls do you think Anna took out and looked at?"),
    ("report",
     "An urn contains 10 balls. Each of them is red or blue.",
     "A person draws {drawn} from the urn, observes that {seen}, and returns them.",
     "A person draws some of the balls from the urn, observes them, and returns them.",
     "all 10 balls", "{a} of the balls",
     "Another ball is about to be drawn. The person is asked whether it will be red, and answers in "
     "one sentence.",
     "What is the person's answer?", "The person's answer:",
     "How many of the 10 balls in the urn does the person think are red?",
     "An urn contains 10 balls. Each of them is red or blue. A person has drawn some of the balls, "
     "observed them and returned them. Asked about the next ball to be drawn, the person says: "
     "\"{sentence}\"",
     "How many of the 10 balls in the urn are red?",
     "How many of the 10 balls did the person draw?"),
    ("bag",
     "A bag holds 10 balls, and every ball is either red or blue.",
     "You reach into the bag, pull out {drawn} and notice that {seen}.",
     "You reach into the bag, pull out some of the balls and look at them.",
     "all 10 balls", "{a} of the balls",
     "You drop them back in and shake the bag. Someone will now draw one more ball, and a colleague "
     "who saw nothing asks you whether it will be red.",
     "How do you reply? Answer in one sentence.", "You reply:",
     "How many of the 10 balls in the bag do you think are red?",
     "A bag holds 10 balls, and every ball is either red or blue. A colleague pulled some of the balls "
     "out of the bag, looked at them and dropped them back in. About the next ball to be drawn, the "
     "colleague tells you: \"{sentence}\"",
     "How many of the 10 balls in the bag do you think are red?",
     "How many of the 10 balls do you think your colleague pulled out?"),
    ("lottery",
     "At a fair, a lottery drum holds 10 balls; some are red and the rest are blue.",
     "Tom is allowed to peek: he takes out {drawn} and sees that {seen}.",
     "Tom is allowed to peek: he takes out some of the balls and looks at them.",
     "all 10 balls", "{a} balls",
     "He puts them back and the drum is spun. A ball will now be drawn for the prize, and a visitor "
     "asks Tom whether it will be red.",
     "What does Tom say to the visitor? Write his reply as one sentence.", "Tom replies:",
     "How many of the 10 balls in the drum does Tom think are red?",
     "At a fair, a lottery drum holds 10 balls; some are red and the rest are blue. Tom was allowed to "
     "take out some of the balls, look at them and put them back. About the next ball to be drawn, "
     "Tom tells you: \"{sentence}\"",
     "How many of the 10 balls in the drum do you think are red?",
     "How many of the 10 balls do you think Tom took out and looked at?"),
    ("experiment",
     "In a psychology experiment, a jar contains 10 balls, each red or blue.",
     "The participant is shown {drawn} from the jar and sees that {seen}.",
     "The participant is shown some of the balls from the jar.",
     "all 10 balls", "{a} balls taken at random",
     "The balls are returned and the jar is shaken. Then the experimenter draws another ball and, "
     "before showing it, asks the participant whether it will be red.",
     "What does the participant say? Reply with a single sentence.", "The participant says:",
     "How many of the 10 balls in the jar does the participant think are red?",
     "In a psychology experiment, a jar contains 10 balls, each red or blue. A participant was shown "
     "some of the balls, which were then returned to the jar. About the next ball to be drawn, the "
     "participant says: \"{sentence}\"",
     "How many of the 10 balls in the jar do you think are red?",
     "How many of the 10 balls do you think the participant was shown?"),
    ("quiz",
     "On a quiz show, a glass bowl holds 10 balls, and each of them is red or blue.",
     "The contestant looks at {drawn} and finds that {seen}.",
     "The contestant looks at some of the balls.",
     "all 10 balls", "{a} of them",
     "The balls go back into the bowl, which is then stirred. The host is about to draw one ball and "
     "asks the contestant whether it will be red.",
     "What is the contestant's answer, in one sentence?", "Contestant:",
     "How many of the 10 balls in the bowl does the contestant think are red?",
     "On a quiz show, a glass bowl holds 10 balls, and each of them is red or blue. The contestant "
     "looked at some of the balls before they went back into the bowl. About the next ball the host "
     "will draw, the contestant says: \"{sentence}\"",
     "How many of the 10 balls in the bowl are red, would you guess?",
     "How many of the 10 balls do you think the contestant looked at?"),
    ("observer",
     "Consider a container with ten balls, each of which is either red or blue.",
     "An observer inspects {drawn} and finds that {seen}.",
     "An observer inspects a random sample of the balls.",
     "all ten balls", "a random sample of {a} balls",
     "The inspected balls are put back, and the container is mixed. A further ball will now be drawn, "
     "and the observer is asked to state how likely it is that this ball is red.",
     "State the observer's answer as one sentence.", "Observer:",
     "How many of the ten balls does the observer believe are red?",
     "Consider a container with ten balls, each of which is either red or blue. An observer inspected "
     "some of the balls and put them back. Regarding the next ball to be drawn, the observer states: "
     "\"{sentence}\"",
     "How many of the ten balls in the container are red?",
     "How many of the ten balls did the observer inspect?"),
    ("classroom",
     "A teacher has a basket with 10 balls in it, red ones and blue ones.",
     "She lets Mia take out {drawn}, and Mia sees that {seen}.",
     "She lets Mia take out some of the balls and look at them.",
     "all 10 balls", "{a} balls",
     "Mia puts them back and the basket is shaken. The teacher will now pick one more ball, and she "
     "asks Mia whether it will be red.",
     "What does Mia answer? Give her answer in one sentence.", "Mia answers:",
     "How many of the 10 balls in the basket does Mia think are red?",
     "A teacher has a basket with 10 balls in it, red ones and blue ones. Mia took out some of the "
     "balls, looked at them and put them back. About the next ball the teacher will pick, Mia says: "
     "\"{sentence}\"",
     "How many of the 10 balls in the basket do you think are red?",
     "How many of the 10 balls do you think Mia took out?"),
    ("phone",
     "You and a friend are on the phone. In front of you is a box of 10 balls, each red or blue.",
     "You take out {drawn} and see that {seen}.",
     "You take out some of the balls and look at them.",
     "all 10 balls", "{a} balls",
     "You put them back and shake the box. You are about to draw another ball, and your friend, who "
     "cannot see the box, asks whether it will be red.",
     "What do you tell your friend? Say it in one sentence.", "You tell your friend:",
     "How many of the 10 balls in the box do you think are red?",
     "You and a friend are on the phone. In front of your friend is a box of 10 balls, each red or "
     "blue. Your friend took out some of the balls, looked at them and put them back. About the next "
     "ball to be drawn, your friend tells you: \"{sentence}\"",
     "How many of the 10 balls in the box do you think are red?",
     "How many of the 10 balls do you think your friend took out?"),
]

# the menus people chose from, told in words (with show_options)
OPTIONS_HINT = {
    "simple": "The answer must be one of: \"The next ball will certainly not / probably not / "
              "possibly / probably / certainly be red.\"",
    "complex": "The answer must read \"It ... that the next ball will be red\", with \"is\", "
               "\"is probably\", \"might be\" or \"is certainly\" followed by \"probable\", "
               "\"possible\", \"unlikely\" or \"likely\".",
}
NUMBER_CUE = "Answer with a number from 0 to 10."
# "7 out of 10." rather than "7": as bare digits, "1" would be a prefix of "10" and take its mass
NUMBER_OPTION = "{n} out of 10."
